-- Build the live-path and live-digest indexes of containers_vreg 0.3.0 on a
-- 0.2.0 database before ALTER EXTENSION containers_vreg UPDATE, without
-- blocking writers. The update then finds them (valid, under their names, of
-- exactly their definition), keeps them and only drops the old indexes.
--
--   psql -X -v ON_ERROR_STOP=1 -d DATABASE -f scripts/prebuild-0.3.0-indexes.sql
--
-- Not inside a transaction: every CREATE INDEX CONCURRENTLY commits on its
-- own. What each step locks:
--   1. CREATE INDEX CONCURRENTLY, one per partition: SHARE UPDATE EXCLUSIVE
--      on that partition (reads and writes go on; it waits for transactions
--      already running on the table to end, twice). Writers keep both the
--      old and the new indexes up to date until the update drops the old.
--   2. CREATE INDEX ON ONLY cache_entries: no build; a SHARE lock on the
--      parent table only, for milliseconds.
--   3. ALTER INDEX ... ATTACH PARTITION, one per partition: no build; locks
--      the parent index and the partition's index only.
-- Safe to run again: an index already built or attached is skipped, and an
-- invalid one left by a failed CREATE INDEX CONCURRENTLY is dropped and built
-- again. Partition index names are the ones a fresh install gives them.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

CREATE TEMP TABLE prebuild_want (parent text, child_suffix text, unique_kw text, cols text, pred text);
INSERT INTO prebuild_want VALUES
  ('cache_entries_live_path_upstream_key', '_group_id_relative_path_upstream_id_idx', 'UNIQUE ',
   'group_id, relative_path, upstream_id', 'status = 0'),
  ('cache_entries_live_digest_upstream_idx', '_group_id_digest_upstream_id_idx', '',
   'group_id, digest, upstream_id', 'status = 0 AND digest IS NOT NULL');

CREATE TEMP VIEW prebuild_parts AS
SELECT c.oid::regclass AS part, c.relname, w.*,
       (SELECT i.indexrelid FROM pg_catalog.pg_class ic
          JOIN pg_catalog.pg_index i ON i.indexrelid = ic.oid AND i.indrelid = c.oid
         WHERE ic.relname = c.relname || w.child_suffix AND ic.relnamespace = c.relnamespace) AS idx
  FROM pg_catalog.pg_inherits h
  JOIN pg_catalog.pg_class c ON c.oid = h.inhrelid
 CROSS JOIN prebuild_want w
 WHERE h.inhparent = 'containers_vreg.cache_entries'::regclass;

-- 1. leftovers of a failed run, then one concurrent build per partition
SELECT format('DROP INDEX CONCURRENTLY %s', idx::regclass)
  FROM prebuild_parts p JOIN pg_catalog.pg_index i ON i.indexrelid = p.idx
 WHERE NOT i.indisvalid
 ORDER BY 1 \gexec
SELECT format('CREATE %sINDEX CONCURRENTLY IF NOT EXISTS %I ON %s (%s) WHERE %s',
              unique_kw, relname || child_suffix, part, cols, pred)
  FROM prebuild_parts ORDER BY relname, parent \gexec

-- 2. the parent indexes, on the parent only
SELECT format('CREATE %sINDEX IF NOT EXISTS %I ON ONLY containers_vreg.cache_entries (%s) WHERE %s',
              unique_kw, parent, cols, pred)
  FROM prebuild_want ORDER BY parent \gexec

-- 3. attach each partition's index (then the parent index is valid)
SELECT format('ALTER INDEX containers_vreg.%I ATTACH PARTITION %s', parent, idx::regclass)
  FROM prebuild_parts p
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_inherits x WHERE x.inhrelid = p.idx)
 ORDER BY relname, parent \gexec

SELECT format('%s: %s', c.relname, CASE WHEN i.indisvalid THEN 'valid' ELSE 'NOT VALID' END) AS prebuilt
  FROM prebuild_want w
  JOIN pg_catalog.pg_class c ON c.relname = w.parent AND c.relnamespace = 'containers_vreg'::regnamespace
  JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
 ORDER BY 1;

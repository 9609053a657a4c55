-- Build the live-path and live-digest indexes of containers_vreg 0.3.0 on a
-- 0.2.0 database before ALTER EXTENSION containers_vreg UPDATE, and add its
-- byte-limit CHECK constraints on cache_entries and fetch_leases, without
-- blocking readers and writers for longer than a catalog change. The update
-- then finds them (valid or validated, under their names, of exactly their
-- definition), keeps them, reads no row for them and only drops the old
-- indexes.
--
--   psql -X -v ON_ERROR_STOP=1 -d DATABASE -f scripts/prebuild-0.3.0-indexes.sql
--
-- Not inside a transaction: every statement commits on its own. What each
-- step locks:
--   1. CREATE INDEX CONCURRENTLY, one per partition: SHARE UPDATE EXCLUSIVE
--      on that partition (reads and writes go on; it waits for transactions
--      already running on the table to end, twice). Writers keep both the
--      old and the new indexes up to date until the update drops the old.
--   2. CREATE INDEX ON ONLY cache_entries: no build; a SHARE lock on the
--      parent table only, for milliseconds.
--   3. ALTER INDEX ... ATTACH PARTITION, one per partition: no build; locks
--      the parent index and the partition's index only.
--   4. ALTER TABLE ... DROP CONSTRAINT (0.2.0's), ADD CONSTRAINT ... NOT
--      VALID, one statement per constraint: no row is read; ACCESS EXCLUSIVE
--      on the table and every partition for milliseconds, but it queues
--      behind running transactions (and everything queues behind it), so it
--      gives up after lock_timeout (5 s; run the script again). From then on
--      every new or updated row is checked against the new constraint.
--   5. ALTER TABLE ... VALIDATE CONSTRAINT, on each partition, then on the
--      parent (which finds the partitions done): reads every row under
--      SHARE UPDATE EXCLUSIVE on that partition (reads and writes go on). A
--      row over a limit (only a raw INSERT can write one) stops the script
--      naming the constraint: fix or delete that row and run it again.
-- Safe to run again: an index already built or attached, a constraint
-- already added or validated is skipped, and an invalid index left by a
-- failed CREATE INDEX CONCURRENTLY is dropped and built again. Partition
-- index names are the ones a fresh install gives them.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
-- pg_get_constraintdef then names containers_vreg's functions with their schema
SET search_path = pg_catalog, pg_temp;

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

-- 4. the 0.3.0 constraints, NOT VALID, in place of 0.2.0's of the same name
CREATE TEMP TABLE prebuild_checks (tab regclass, name text, def text, expr text);
INSERT INTO prebuild_checks VALUES
  ('containers_vreg.cache_entries', 'cache_entries_relative_path_check',
   $d$CHECK ((((octet_length(relative_path) >= 1) AND (octet_length(relative_path) <= 1024)) AND ("left"(relative_path, 1) = '/'::text)))$d$,
   $e$octet_length(relative_path) BETWEEN 1 AND 1024 AND left(relative_path, 1) = '/'$e$),
  ('containers_vreg.cache_entries', 'cache_entries_object_storage_key_check',
   $d$CHECK (((octet_length(object_storage_key) <= 1024) AND starts_with(object_storage_key, containers_vreg.object_storage_prefix(group_id)) AND (octet_length(object_storage_key) > octet_length(containers_vreg.object_storage_prefix(group_id))) AND (object_storage_key ~ '^[A-Za-z0-9!_.*''()/-]+$'::text) AND (object_storage_key !~ '(^|/)\.\.?(/|$)'::text) AND (object_storage_key !~ '//'::text) AND ("right"(object_storage_key, 1) <> '/'::text)))$d$,
   $e$octet_length(object_storage_key) <= 1024
       AND starts_with(object_storage_key, containers_vreg.object_storage_prefix(group_id))
       AND octet_length(object_storage_key) > octet_length(containers_vreg.object_storage_prefix(group_id))
       AND object_storage_key ~ '^[A-Za-z0-9!_.*''()/-]+$'
       AND object_storage_key !~ '(^|/)\.\.?(/|$)'
       AND object_storage_key !~ '//'
       AND right(object_storage_key, 1) <> '/'$e$),
  ('containers_vreg.fetch_leases', 'fetch_leases_relative_path_check',
   $d$CHECK ((((octet_length(relative_path) >= 1) AND (octet_length(relative_path) <= 1024)) AND ("left"(relative_path, 1) = '/'::text)))$d$,
   $e$octet_length(relative_path) BETWEEN 1 AND 1024 AND left(relative_path, 1) = '/'$e$);

SET lock_timeout = '5s';
SELECT format('ALTER TABLE %s %sADD CONSTRAINT %I CHECK (%s) NOT VALID', w.tab,
              CASE WHEN k.oid IS NOT NULL THEN format('DROP CONSTRAINT %I, ', w.name) ELSE '' END,
              w.name, w.expr)
  FROM prebuild_checks w
  LEFT JOIN pg_catalog.pg_constraint k ON k.conrelid = w.tab AND k.conname = w.name
 WHERE k.oid IS NULL
    OR pg_catalog.pg_get_constraintdef(k.oid) NOT IN (w.def, w.def || ' NOT VALID')
 ORDER BY w.name \gexec
RESET lock_timeout;

-- 5. validate: every partition on its own, then the parent tables
SELECT format('ALTER TABLE %s VALIDATE CONSTRAINT %I', k.conrelid::regclass, k.conname)
  FROM pg_catalog.pg_constraint k
  JOIN prebuild_checks w ON w.name = k.conname
  LEFT JOIN pg_catalog.pg_inherits h ON h.inhrelid = k.conrelid
 WHERE (k.conrelid = w.tab OR h.inhparent = w.tab) AND NOT k.convalidated
 ORDER BY k.conrelid = w.tab, k.conrelid::regclass::text, k.conname \gexec

SELECT format('%s: %s', c.relname, CASE WHEN i.indisvalid THEN 'valid' ELSE 'NOT VALID' END) AS prebuilt
  FROM prebuild_want w
  JOIN pg_catalog.pg_class c ON c.relname = w.parent AND c.relnamespace = 'containers_vreg'::regnamespace
  JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
 ORDER BY 1;
SELECT format('%s: %s', w.name, CASE WHEN k.convalidated THEN 'validated' ELSE 'NOT VALID' END) AS prebuilt
  FROM prebuild_checks w
  JOIN pg_catalog.pg_constraint k ON k.conrelid = w.tab AND k.conname = w.name
 ORDER BY 1;

-- resolve() answers with direct index scans (src/resolve_scan.c) and keeps
-- the planned query as its fallback. Every answer below is also computed by
-- the planned query (forced by renaming cache_entries_live_digest_upstream_idx in a
-- subtransaction: the scans find their indexes by name) and must agree with
-- it; the lock count shows which of the two answered (the scans lock the
-- group's one partition, the generic plan all 16).
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();

SELECT 'sha256:' || repeat('a', 64) AS da, 'sha256:' || repeat('e', 64) AS de \gset

-- group 5: registry 50 = ghcr (1), quay (2, cache_validity_hours 0), Docker Hub (3, 1 hour)
--          registry 51 = ghcr (1), Docker Hub (2); registry 52 has no upstream
INSERT INTO containers_vreg.registries (group_id, id, name) VALUES
  (5, 50, 'three'), (5, 51, 'hub second'), (5, 52, 'empty'), (6, 70, 'other group');
INSERT INTO containers_vreg.upstreams (group_id, id, url, cache_validity_hours) VALUES
  (5, 60, 'https://ghcr.io', 24), (5, 61, 'https://quay.io', 0), (5, 62, 'https://docker.io', 1);
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES
  (5, 50, 60, 1), (5, 50, 61, 2), (5, 50, 62, 3),
  (5, 51, 60, 1), (5, 51, 62, 2);

CREATE FUNCTION pg_temp.up(u bigint, p text, etag text DEFAULT NULL)
RETURNS bigint LANGUAGE sql AS $$
  SELECT id FROM containers_vreg.upsert_cache_entry(5, u, p, 100, 'file', '\x1111111111111111111111111111111111111111', NULL, etag)
$$;

-- The planned query's answer: hide an index the scans need, resolve, undo.
CREATE FUNCTION pg_temp.planned(g bigint, reg bigint, p text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  answer text;
BEGIN
  BEGIN
    ALTER INDEX containers_vreg.cache_entries_live_digest_upstream_idx RENAME TO hidden_digest_idx;
    SELECT r::text INTO answer FROM containers_vreg.resolve(g, reg, p) r;
    RAISE EXCEPTION USING ERRCODE = 'VR001', MESSAGE = answer;
  EXCEPTION WHEN SQLSTATE 'VR001' THEN
    RETURN SQLERRM;
  END;
END
$$;

-- Compact view of resolve, and whether the planned query agrees.
CREATE FUNCTION pg_temp.r(g bigint, reg bigint, p text)
RETURNS TABLE (result text, upstream_id bigint, "position" smallint, relative_path text, digest text,
               planned_agrees boolean)
LANGUAGE sql AS $$
  SELECT r.result, r.upstream_id, r.position, r.relative_path, left(r.digest, 10),
         r::text = pg_temp.planned(g, reg, p)
    FROM containers_vreg.resolve(g, reg, p) r
$$;

-- Partitions of cache_entries this transaction has locked after one resolve.
CREATE FUNCTION pg_temp.partitions_locked(g bigint, reg bigint, p text) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM containers_vreg.resolve(g, reg, p);
  RETURN (SELECT count(*) FROM pg_locks l
            JOIN pg_inherits i ON i.inhrelid = l.relation
           WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation'
             AND i.inhparent = 'containers_vreg.cache_entries'::regclass);
END
$$;

SELECT pg_temp.up(62, 'alpine/manifests/1') AS hub_tag \gset
SELECT pg_temp.up(61, 'alpine/manifests/1') AS quay_tag \gset
SELECT relative_path FROM containers_vreg.cache_entries WHERE id = :hub_tag;

-- Docker Hub at position 2 and 3: library/ form, both spellings -----------------
SELECT * FROM pg_temp.r(5, 51, 'alpine/manifests/1');
SELECT * FROM pg_temp.r(5, 51, 'library/alpine/manifests/1');
SELECT * FROM pg_temp.r(5, 50, 'alpine/manifests/1');           -- quay (2) first: always stale
SELECT * FROM pg_temp.r(5, 50, 'library/alpine/manifests/1');   -- quay keeps names as given: Docker Hub (3)
SELECT * FROM pg_temp.r(5, 51, 'other/manifests/1');            -- miss
SELECT * FROM pg_temp.r(5, 52, 'alpine/manifests/1');           -- no upstream: miss
-- full columns of a hit
SELECT result, entry_id = :hub_tag AS entry, upstream_id, position, relative_path,
       object_storage_key LIKE 'groups/5/upstreams/62/%' AS key_under_prefix,
       file, size, content_type, upstream_etag, digest
  FROM containers_vreg.resolve(5, 51, 'alpine/manifests/1');

-- freshness at the boundary (1 hour), infinities, out of range ---------------------
BEGIN;
UPDATE containers_vreg.cache_entries SET upstream_checked_at = now() - interval '1 hour' WHERE id = :hub_tag;
SELECT result, planned_agrees FROM pg_temp.r(5, 51, 'alpine/manifests/1');   -- exactly at the boundary: hit
SELECT result, planned_agrees FROM pg_temp.r(5, 51, 'library/alpine/manifests/1');  -- (upstream read after the probe)
UPDATE containers_vreg.cache_entries SET upstream_checked_at = now() - interval '1 hour 1 microsecond' WHERE id = :hub_tag;
SELECT result, planned_agrees FROM pg_temp.r(5, 51, 'alpine/manifests/1');   -- 1 microsecond past: stale
SELECT result, planned_agrees FROM pg_temp.r(5, 51, 'library/alpine/manifests/1');
UPDATE containers_vreg.cache_entries SET upstream_checked_at = 'infinity' WHERE id = :hub_tag;
SELECT result, planned_agrees FROM pg_temp.r(5, 51, 'alpine/manifests/1');
UPDATE containers_vreg.cache_entries SET upstream_checked_at = '-infinity' WHERE id = :hub_tag;
SELECT result, planned_agrees FROM pg_temp.r(5, 51, 'alpine/manifests/1');
UPDATE containers_vreg.cache_entries SET upstream_checked_at = '294276-12-31 23:30:00+00' WHERE id = :hub_tag;
SELECT vreg_test.err($$SELECT * FROM containers_vreg.resolve(5, 51, 'alpine/manifests/1')$$);  -- + 1 hour: 22008 as in SQL
ROLLBACK;

-- digests: kind, other names, positions, exact path first, then lowest id -----------
SELECT pg_temp.up(60, 'x/manifests/t', '"' || :'da' || '"') IS NOT NULL AS ghcr_manifest_with_digest;
SELECT pg_temp.up(62, 'nginx/blobs/' || :'da') IS NOT NULL AS hub_blob;
SELECT * FROM pg_temp.r(5, 50, 'other/blobs/' || :'da');        -- ghcr (1) has a manifest only: Docker Hub (3)
SELECT * FROM pg_temp.r(5, 50, 'y/manifests/' || :'da');        -- the tag manifest by its ETag digest, never stale
SELECT pg_temp.up(62, 'a/blobs/' || :'de') AS de_a \gset
SELECT pg_temp.up(62, 'b/blobs/' || :'de') AS de_b \gset
SELECT pg_temp.up(62, 'b/manifests/' || :'de') AS de_b_manifest \gset
SELECT entry_id = :de_b AS exact_first, planned_agrees FROM containers_vreg.resolve(5, 50, 'b/blobs/' || :'de'), pg_temp.r(5, 50, 'b/blobs/' || :'de');
SELECT entry_id = :de_b AS exact_first FROM containers_vreg.resolve(5, 50, 'library/b/blobs/' || :'de');
SELECT entry_id = :de_a AS lowest_id, planned_agrees FROM containers_vreg.resolve(5, 50, 'c/blobs/' || :'de'), pg_temp.r(5, 50, 'c/blobs/' || :'de');
SELECT entry_id = :de_b_manifest AS manifest_kind, planned_agrees FROM containers_vreg.resolve(5, 50, 'c/manifests/' || :'de'), pg_temp.r(5, 50, 'c/manifests/' || :'de');
-- non-live entries never answer
BEGIN;
UPDATE containers_vreg.cache_entries SET status = 2 WHERE id = :de_b;
SELECT entry_id = :de_a AS next_live, planned_agrees FROM containers_vreg.resolve(5, 50, 'b/blobs/' || :'de'), pg_temp.r(5, 50, 'b/blobs/' || :'de');
UPDATE containers_vreg.cache_entries SET status = 3 WHERE id = :hub_tag;
SELECT * FROM pg_temp.r(5, 51, 'alpine/manifests/1');
ROLLBACK;

-- one descent, many candidates: link order is not upstream_id order ----------------
-- registry 53 = upstream 65 (1), 63 (2), 64 (3); upstream 62 has entries but no link
INSERT INTO containers_vreg.upstreams (group_id, id, url, cache_validity_hours) VALUES
  (5, 63, 'https://mirror-a.example.com', 24), (5, 64, 'https://mirror-b.example.com', 24),
  (5, 65, 'https://mirror-c.example.com', 24);
INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (5, 53, 'reordered');
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES
  (5, 53, 65, 1), (5, 53, 63, 2), (5, 53, 64, 3);
SELECT 'sha256:' || repeat('f', 64) AS df \gset
-- an entry straight into the table, with a chosen id (inserted later, lower id)
CREATE FUNCTION pg_temp.put(eid bigint, u bigint, p text, d text) RETURNS boolean
LANGUAGE sql AS $$
  INSERT INTO containers_vreg.cache_entries (group_id, id, upstream_id, relative_path, size, file,
                                             object_storage_key, file_sha1, digest)
  VALUES (5, eid, u, p, 1, 'f', 'groups/5/e' || eid, '\x1111111111111111111111111111111111111111', d)
  RETURNING true
$$;
SELECT pg_temp.put(9000, 62, '/p/blobs/' || :'df', :'df');   -- unlinked from 53, exact path
SELECT pg_temp.put(9001, 64, '/p/blobs/' || :'df', :'df');   -- position 3, exact path
SELECT pg_temp.put(9003, 63, '/q/blobs/' || :'df', :'df');   -- position 2, other names
SELECT pg_temp.put(9002, 63, '/r/blobs/' || :'df', :'df');   --   (lower id, later in the heap)
SELECT pg_temp.put(9004, 63, '/r/manifests/' || :'df', :'df');  -- other kind
SELECT * FROM pg_temp.r(5, 53, 'p/blobs/' || :'df');            -- position 2 beats an exact path at 3
SELECT entry_id AS lowest_id_at_position_2 FROM containers_vreg.resolve(5, 53, 'p/blobs/' || :'df');
SELECT entry_id AS exact_at_position_2 FROM containers_vreg.resolve(5, 53, 'q/blobs/' || :'df');
SELECT entry_id AS manifest_kind FROM containers_vreg.resolve(5, 53, 'p/manifests/' || :'df');
SELECT * FROM pg_temp.r(5, 50, 'p/blobs/' || :'df');            -- registry 50 links 62 at 3: exact there
-- many entries share the digest: same answer as the planned query
INSERT INTO containers_vreg.cache_entries (group_id, id, upstream_id, relative_path, size, file,
                                           object_storage_key, file_sha1, digest)
SELECT 5, 9100 + n, u, '/n' || n || '/blobs/' || :'df', 1, 'f', 'groups/5/m' || n,
       '\x1111111111111111111111111111111111111111', :'df'
  FROM generate_series(1, 300) n, (VALUES (62), (63), (64)) v(u)
 WHERE n % 3 = u % 3;
SELECT result, upstream_id, position, left(relative_path, 16) AS path, planned_agrees FROM pg_temp.r(5, 53, 'n7/blobs/' || :'df');
SELECT result, upstream_id, position, left(relative_path, 16) AS path, planned_agrees FROM pg_temp.r(5, 53, 'n9/blobs/' || :'df');
SELECT result, upstream_id, position, left(relative_path, 16) AS path, planned_agrees FROM pg_temp.r(5, 50, 'n8/blobs/' || :'df');  -- Docker Hub: /n8 is not its exact path
SELECT result, upstream_id, position, left(relative_path, 16) AS path, planned_agrees FROM pg_temp.r(5, 51, 'none/blobs/' || :'df');
SELECT pg_temp.put(9005, 65, '/z/blobs/' || :'df', :'df');   -- position 1
SELECT entry_id AS position_1 FROM containers_vreg.resolve(5, 53, 'p/blobs/' || :'df');
-- a tag cached in several upstreams: the earliest link wins
SELECT pg_temp.put(9500, 64, '/t/manifests/v1', NULL);
SELECT pg_temp.put(9501, 62, '/t/manifests/v1', NULL);
SELECT result, upstream_id, position, left(relative_path, 16) AS path, planned_agrees FROM pg_temp.r(5, 53, 't/manifests/v1');
SELECT pg_temp.put(9502, 63, '/t/manifests/v1', NULL);
SELECT result, upstream_id, position, left(relative_path, 16) AS path, planned_agrees FROM pg_temp.r(5, 53, 't/manifests/v1');
SELECT result, upstream_id, position, left(relative_path, 16) AS path, planned_agrees FROM pg_temp.r(5, 53, 't/manifests/v2');

-- errors: the same as the planned query's -------------------------------------------
SELECT vreg_test.err($$SELECT * FROM containers_vreg.resolve(5, 70, 'alpine/manifests/1')$$);  -- group 6's registry: P0002
SELECT vreg_test.err($$SELECT * FROM containers_vreg.resolve(6, 50, 'alpine/manifests/1')$$);
SELECT vreg_test.err($$SELECT * FROM containers_vreg.resolve(5, 99, 'alpine/manifests/1')$$);
SELECT * FROM pg_temp.r(6, 70, 'alpine/manifests/1');           -- no upstream: miss

-- which path answered: the scans lock one partition, the planned query 16 ----------
SELECT pg_temp.partitions_locked(5, 50, 'other/blobs/' || :'da') AS scans;
SELECT pg_temp.partitions_locked(5, 52, 'alpine/manifests/1') AS no_upstream;
BEGIN;
ALTER INDEX containers_vreg.cache_entries_live_digest_upstream_idx RENAME TO hidden_digest_idx;
SELECT pg_temp.partitions_locked(5, 50, 'other/blobs/' || :'da') AS planned_query;
ROLLBACK;
SELECT pg_temp.partitions_locked(5, 50, 'alpine/manifests/1') AS scans_again;

-- a partition whose columns sit at other positions (a dropped column first, the
-- key column upstream_id last) ----------------------------------------------------
SELECT containers_vreg.cache_entry_partition(5) AS part,
       containers_vreg.cache_entry_partition_index(5, 16) AS rem \gset
SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) AS cols
  FROM pg_attribute WHERE attrelid = 'containers_vreg.cache_entries'::regclass AND attnum > 0 AND NOT attisdropped \gset
BEGIN;
CREATE TABLE containers_vreg.moved (dropped_first integer,
  LIKE containers_vreg.cache_entries INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE containers_vreg.moved DROP COLUMN dropped_first;
ALTER TABLE containers_vreg.moved DROP COLUMN upstream_id;
ALTER TABLE containers_vreg.moved ADD COLUMN upstream_id bigint NOT NULL;
INSERT INTO containers_vreg.moved (:cols) SELECT :cols FROM :part;
ALTER TABLE containers_vreg.cache_entries DETACH PARTITION :part;
SELECT * FROM pg_temp.r(5, 51, 'alpine/manifests/1');           -- no partition for the group: miss, as in SQL
ALTER TABLE containers_vreg.cache_entries ATTACH PARTITION containers_vreg.moved
  FOR VALUES WITH (MODULUS 16, REMAINDER :rem);
COMMIT;
SELECT attname, attnum FROM pg_attribute WHERE attrelid = 'containers_vreg.moved'::regclass AND attnum IN (1, 2, 19) ORDER BY attnum;
SELECT * FROM pg_temp.r(5, 51, 'alpine/manifests/1');
SELECT * FROM pg_temp.r(5, 50, 'other/blobs/' || :'da');
SELECT entry_id = :de_b AS exact_first FROM containers_vreg.resolve(5, 50, 'b/blobs/' || :'de');
SELECT pg_temp.partitions_locked(5, 50, 'alpine/manifests/1') AS scans_on_moved;
-- a sub-partitioned partition: the planned query answers
BEGIN;
ALTER TABLE containers_vreg.cache_entries DETACH PARTITION containers_vreg.moved;
CREATE TABLE containers_vreg.sub PARTITION OF containers_vreg.cache_entries
  FOR VALUES WITH (MODULUS 16, REMAINDER :rem) PARTITION BY HASH (group_id);
CREATE TABLE containers_vreg.sub_0 PARTITION OF containers_vreg.sub FOR VALUES WITH (MODULUS 1, REMAINDER 0);
INSERT INTO containers_vreg.sub (:cols) SELECT :cols FROM containers_vreg.moved;
SELECT * FROM pg_temp.r(5, 51, 'alpine/manifests/1');
SELECT pg_temp.partitions_locked(5, 50, 'alpine/manifests/1') > 1 AS planned_query;
ROLLBACK;
-- back to the original partition
BEGIN;
ALTER TABLE containers_vreg.cache_entries DETACH PARTITION containers_vreg.moved;
ALTER TABLE containers_vreg.cache_entries ATTACH PARTITION :part FOR VALUES WITH (MODULUS 16, REMAINDER :rem);
DROP TABLE containers_vreg.moved;
COMMIT;
SELECT * FROM pg_temp.r(5, 51, 'alpine/manifests/1');
SELECT pg_temp.partitions_locked(5, 51, 'alpine/manifests/1') AS scans;

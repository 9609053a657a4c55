-- resolve()'s direct index scans trust an index only when its definition is
-- exactly what they rely on; otherwise resolve() answers with its planned
-- query (and says why at DEBUG1). Each case below replaces an index (or
-- cache_entries itself) inside a transaction that is rolled back, and shows
-- which path answered and that the answer equals the planned query's.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();

SELECT 'sha256:' || repeat('b', 64) AS db \gset

-- group 8: registry 80 = ghcr (81, position 1), quay (82, position 2); both
-- hold the tag app/manifests/1 and the blob :db (100 bytes)
INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (8, 80, 'shape');
INSERT INTO containers_vreg.upstreams (group_id, id, url) VALUES
  (8, 81, 'https://ghcr.io'), (8, 82, 'https://quay.io');
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES
  (8, 80, 81, 1), (8, 80, 82, 2);
SELECT count(containers_vreg.upsert_cache_entry(8, u, p, 100, 'file', '\x2222222222222222222222222222222222222222'))
  FROM unnest(ARRAY[81, 82]) u, unnest(ARRAY['app/manifests/1', 'app/blobs/' || :'db']) p;

-- resolve's answer (result, upstream, position), which path gave it, and
-- whether the planned query agrees. The planned query calls
-- is_docker_hub_url() through the executor for each link, which
-- track_functions = all counts; the scans call its C code directly. The
-- planned query's own answer is taken with cache_entries_live_digest_upstream_idx
-- renamed (the scans find their indexes by name), undone at once.
CREATE FUNCTION pg_temp.calls() RETURNS bigint LANGUAGE sql AS $$
  SELECT coalesce(pg_stat_get_xact_function_calls('containers_vreg.is_docker_hub_url(text)'::regprocedure), 0)
$$;
CREATE FUNCTION pg_temp.r(p text, OUT answer text, OUT answered_by text, OUT planned_agrees boolean)
LANGUAGE plpgsql AS $$
DECLARE
  got record;
  before bigint;
BEGIN
  SET LOCAL track_functions = 'all';
  before := pg_temp.calls();
  SELECT * INTO got FROM containers_vreg.resolve(8, 80, p);
  answered_by := CASE WHEN pg_temp.calls() > before THEN 'planned query' ELSE 'scans' END;
  answer := got.result || ' ' || coalesce(got.upstream_id || '@' || got.position, '-');
  BEGIN
    ALTER INDEX containers_vreg.cache_entries_live_digest_upstream_idx RENAME TO hidden_digest_idx;
    planned_agrees := got::text = (SELECT x::text FROM containers_vreg.resolve(8, 80, p) x);
    RAISE EXCEPTION USING ERRCODE = 'VR001';
  EXCEPTION WHEN SQLSTATE 'VR001' THEN
    NULL;   -- the rename is undone, planned_agrees is kept
  END;
END
$$;

-- The same after some DDL, which is then undone.
CREATE FUNCTION pg_temp.after(ddl text, p text, OUT answer text, OUT answered_by text, OUT planned_agrees boolean)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE ddl;
  SELECT * INTO answer, answered_by, planned_agrees FROM pg_temp.r(p);
  RAISE EXCEPTION USING ERRCODE = 'VR002';
EXCEPTION WHEN SQLSTATE 'VR002' THEN
  RETURN;
END
$$;

SELECT 'app/manifests/1' AS tag, 'other/blobs/' || :'db' AS blob \gset

-- as installed: the scans answer
SELECT * FROM pg_temp.r(:'tag');
SELECT * FROM pg_temp.r(:'blob');

-- an operator class that sorts smallints the other way round
CREATE FUNCTION vreg_test.int2_reverse_cmp(smallint, smallint) RETURNS integer
  LANGUAGE sql IMMUTABLE STRICT AS 'SELECT pg_catalog.btint2cmp($2, $1)';
CREATE OPERATOR CLASS vreg_test.int2_reverse_ops FOR TYPE smallint USING btree AS
  OPERATOR 1 pg_catalog.> , OPERATOR 2 pg_catalog.>= , OPERATOR 3 pg_catalog.= ,
  OPERATOR 4 pg_catalog.<= , OPERATOR 5 pg_catalog.< ,
  FUNCTION 1 vreg_test.int2_reverse_cmp(smallint, smallint);

-- the fixed indexes: the scans read the links in the order of
-- registry_upstreams_position_key (descending, they would try quay first)
SELECT c.change, x.*
  FROM (VALUES
    ('position DESC', 'DROP UNIQUE INDEX (group_id, registry_id, position DESC)'),
    ('position NULLS FIRST', 'DROP UNIQUE INDEX (group_id, registry_id, position NULLS FIRST)'),
    ('reversed operator class', 'DROP UNIQUE INDEX (group_id, registry_id, position vreg_test.int2_reverse_ops)'),
    ('not unique', 'DROP INDEX (group_id, registry_id, position)'),
    ('not valid', 'UPDATE pg_index SET indisvalid = false WHERE indexrelid = ''containers_vreg.registry_upstreams_position_key''::regclass')
  ) c(change, ddl),
  LATERAL pg_temp.after(replace(replace(c.ddl,
    'DROP ', 'ALTER TABLE containers_vreg.registry_upstreams DROP CONSTRAINT registry_upstreams_position_key; CREATE '),
    'INDEX (', 'INDEX registry_upstreams_position_key ON containers_vreg.registry_upstreams ('), :'tag') x;
SELECT c.change, x.*
  FROM (VALUES
    ('upstreams_pkey not unique', 'ALTER TABLE containers_vreg.registry_upstreams DROP CONSTRAINT registry_upstreams_upstream_fkey;
       ALTER TABLE containers_vreg.upstreams DROP CONSTRAINT upstreams_pkey;
       CREATE INDEX upstreams_pkey ON containers_vreg.upstreams (group_id, id)'),
    ('registries_pkey with INCLUDE', 'ALTER TABLE containers_vreg.registry_upstreams DROP CONSTRAINT registry_upstreams_registry_fkey;
       ALTER TABLE containers_vreg.registries DROP CONSTRAINT registries_pkey;
       CREATE UNIQUE INDEX registries_pkey ON containers_vreg.registries (group_id, id) INCLUDE (name)')
  ) c(change, ddl),
  LATERAL pg_temp.after(c.ddl, :'tag') x;

-- cache_entries_live_path_upstream_key, whose children are each partition's index
SELECT c.change, x.*
  FROM (VALUES
    ('text_pattern_ops', 'UNIQUE', 'relative_path text_pattern_ops, upstream_id', 'status = 0'),
    ('collation POSIX', 'UNIQUE', 'relative_path COLLATE "POSIX", upstream_id', 'status = 0'),
    ('descending', 'UNIQUE', 'relative_path DESC, upstream_id', 'status = 0'),
    ('upstream_id descending', 'UNIQUE', 'relative_path, upstream_id DESC', 'status = 0'),
    ('the previous column order', 'UNIQUE', 'upstream_id, relative_path', 'status = 0'),
    ('not unique', '', 'relative_path, upstream_id', 'status = 0'),
    ('one more column', 'UNIQUE', 'relative_path, upstream_id, id', 'status = 0'),
    ('an expression', 'UNIQUE', '(relative_path || ''x''), upstream_id', 'status = 0'),
    ('narrower predicate', 'UNIQUE', 'relative_path, upstream_id', 'status = 0 AND size > 1000'),
    ('wider predicate', 'UNIQUE', 'relative_path, upstream_id', 'status IN (0, 1)'),
    ('same predicate, other way round', 'UNIQUE', 'relative_path, upstream_id', '0 = status')
  ) c(change, uniq, col, pred),
  LATERAL pg_temp.after(format('DROP INDEX containers_vreg.cache_entries_live_path_upstream_key;
    CREATE %s INDEX cache_entries_live_path_upstream_key ON containers_vreg.cache_entries (group_id, %s) WHERE %s',
    c.uniq, c.col, c.pred), :'tag') x;

-- cache_entries_live_digest_upstream_idx (a narrower predicate leaves out the 100-byte
-- entries: the scans would miss them)
SELECT c.change, x.*
  FROM (VALUES
    ('narrower predicate', 'digest, upstream_id', 'status = 0 AND digest IS NOT NULL AND size > 1000'),
    ('no IS NOT NULL', 'digest, upstream_id', 'status = 0'),
    ('NULLS FIRST', 'digest NULLS FIRST, upstream_id', 'status = 0 AND digest IS NOT NULL'),
    ('upstream_id descending', 'digest, upstream_id DESC', 'status = 0 AND digest IS NOT NULL'),
    ('the previous column order', 'upstream_id, digest', 'status = 0 AND digest IS NOT NULL'),
    ('same predicate, other order', 'digest, upstream_id', 'digest IS NOT NULL AND status = 0::smallint')
  ) c(change, col, pred),
  LATERAL pg_temp.after(format('DROP INDEX containers_vreg.cache_entries_live_digest_upstream_idx;
    CREATE INDEX cache_entries_live_digest_upstream_idx ON containers_vreg.cache_entries (group_id, %s) WHERE %s',
    c.col, c.pred), :'blob') x;

-- cache_entries partitioned otherwise: the planned query answers, no error.
-- The table is renamed away and a copy takes its name and its index names.
CREATE FUNCTION pg_temp.repartition(partition_by text, partitions text[], path_key_unique boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  p text;
  i integer := 0;
BEGIN
  ALTER TABLE containers_vreg.cache_entries RENAME TO cache_entries_orig;
  ALTER INDEX containers_vreg.cache_entries_live_path_upstream_key RENAME TO cache_entries_live_path_upstream_key_orig;
  ALTER INDEX containers_vreg.cache_entries_live_digest_upstream_idx RENAME TO cache_entries_live_digest_upstream_idx_orig;
  EXECUTE 'CREATE TABLE containers_vreg.cache_entries (LIKE containers_vreg.cache_entries_orig INCLUDING DEFAULTS) PARTITION BY ' || partition_by;
  FOREACH p IN ARRAY partitions LOOP
    i := i + 1;
    EXECUTE format('CREATE TABLE containers_vreg.cache_entries_copy_%s PARTITION OF containers_vreg.cache_entries %s', i, p);
  END LOOP;
  EXECUTE 'CREATE ' || CASE WHEN path_key_unique THEN 'UNIQUE ' ELSE '' END
       || 'INDEX cache_entries_live_path_upstream_key ON containers_vreg.cache_entries (group_id, relative_path, upstream_id) WHERE status = 0';
  CREATE INDEX cache_entries_live_digest_upstream_idx
    ON containers_vreg.cache_entries (group_id, digest, upstream_id) WHERE status = 0 AND digest IS NOT NULL;
  INSERT INTO containers_vreg.cache_entries SELECT * FROM containers_vreg.cache_entries_orig;
END
$$;
-- (hash on id: routing the group would pick a partition that need not hold
-- its rows; a unique index there would have to include id)
SELECT c.change, p.path, x.*
  FROM (VALUES
    ('LIST (group_id)', $$SELECT pg_temp.repartition('LIST (group_id)', ARRAY['FOR VALUES IN (8)', 'DEFAULT'])$$),
    ('HASH (group_id, upstream_id)', $$SELECT pg_temp.repartition('HASH (group_id, upstream_id)',
       ARRAY['FOR VALUES WITH (MODULUS 2, REMAINDER 0)', 'FOR VALUES WITH (MODULUS 2, REMAINDER 1)'])$$),
    ('HASH (id)', $$SELECT pg_temp.repartition('HASH (id)',
       ARRAY(SELECT format('FOR VALUES WITH (MODULUS 8, REMAINDER %s)', r) FROM generate_series(0, 7) r), false)$$)
  ) c(change, ddl),
  (VALUES ('tag', :'tag'), ('blob', :'blob')) p(path, request),
  LATERAL pg_temp.after(c.ddl, p.request) x
 ORDER BY c.change, p.path;
-- with HASH (id) the group's rows are spread over several partitions
BEGIN;
SELECT pg_temp.repartition('HASH (id)', ARRAY(SELECT format('FOR VALUES WITH (MODULUS 8, REMAINDER %s)', r) FROM generate_series(0, 7) r), false);
SELECT count(DISTINCT tableoid) > 1 AS rows_in_several_partitions
  FROM containers_vreg.cache_entries WHERE group_id = 8;
ROLLBACK;

-- all back as installed: the scans answer again in this backend
SELECT * FROM pg_temp.r(:'tag');
SELECT * FROM pg_temp.r(:'blob');
DROP OPERATOR CLASS vreg_test.int2_reverse_ops USING btree;
DROP OPERATOR FAMILY vreg_test.int2_reverse_ops USING btree;
DROP FUNCTION vreg_test.int2_reverse_cmp(smallint, smallint);
SELECT vreg_test.reset();

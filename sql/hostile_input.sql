-- Hostile input at the SQL level: every public SQL function
-- of the extension (its non-trigger members, listed from pg_depend) with NUL
-- bytes, 1 MB strings, deeply nested and huge JSON, every numeric edge of
-- every bigint/integer argument, extreme intervals and bad regclass values.
-- Each call gives a clear error with a specific SQLSTATE or a correct result,
-- never a crash or XX000, and refused calls leave the tables unchanged.
\set VERBOSITY terse
SELECT vreg_test.reset();
CREATE SCHEMA hostile_t;

-- try(stmt): the statement's first value (or its error), always rolled back,
-- so a call that succeeds does not change what the next one sees.
CREATE FUNCTION hostile_t.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  res text;
BEGIN
  BEGIN
    EXECUTE stmt INTO res;
    RAISE EXCEPTION USING ERRCODE = 'VRGOK', MESSAGE = 'ok: ' || coalesce(res, 'NULL');
  EXCEPTION WHEN OTHERS THEN
    IF SQLSTATE = 'VRGOK' THEN
      RETURN left(SQLERRM, 200);
    END IF;
    RETURN SQLSTATE || ': ' || left(SQLERRM, 200);
  END;
END $$;

-- Fixture with fixed ids: registry 1001 -> upstreams 2001 (credentials), 2002
-- (Docker Hub); one live entry 3001.
INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (1, 1001, 'r');
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials) VALUES
  (1, 2001, 'https://registry.example.com', '{"username": "u", "password": "p"}'),
  (1, 2002, 'https://registry-1.docker.io', NULL);
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id)
VALUES (1, 1001, 2001), (1, 1001, 2002);
INSERT INTO containers_vreg.cache_entries
  (group_id, id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
VALUES (1, 3001, 2001, '/library/alpine/manifests/3.21', 10, 'f', 'groups/1/e3001',
        '\x0000000000000000000000000000000000000000');
SELECT vreg_test.state() AS s0 \gset

-- 1. The functions under test: every non-trigger member of the extension.
-- A new function fails this test until it is added to the sweep below.
CREATE TABLE hostile_t.covered (f regprocedure);
INSERT INTO hostile_t.covered VALUES
  ('containers_vreg.check_upstream_url(text,boolean)'), ('containers_vreg.object_storage_prefix(bigint)'),
  ('containers_vreg.create_hash_partitions(regclass,integer)'),
  ('containers_vreg.attach_upstream(bigint,bigint,bigint)'),
  ('containers_vreg.move_upstream(bigint,bigint,bigint,integer)'),
  ('containers_vreg.detach_upstream(bigint,bigint,bigint)'),
  ('containers_vreg.delete_registry(bigint,bigint)'), ('containers_vreg.registry_upstreams(bigint,bigint)'),
  ('containers_vreg.upstream_credentials(bigint,bigint)'), ('containers_vreg.rotate_credentials(integer)'),
  ('containers_vreg.cache_entry_partition(bigint)'), ('containers_vreg.hash_partition_for(regclass,bigint)'),
  ('containers_vreg.cache_entry_partition_index(bigint,integer)'),
  ('containers_vreg.cache_entry_shard(bigint,integer)'), ('containers_vreg.is_docker_hub_url(text)'),
  ('containers_vreg.parse_request_path(text,boolean)'), ('containers_vreg.etag_digest(text)'),
  ('containers_vreg.resolve(bigint,bigint,text)'),
  ('containers_vreg.upsert_cache_entry(bigint,bigint,text,bigint,text,bytea,text,text,bytea,text)'),
  ('containers_vreg.mark_checked(bigint,bigint)'), ('containers_vreg.record_download(bigint,bigint)'),
  ('containers_vreg.flush_downloads()'), ('containers_vreg.lifecycle_check_not_null(anyelement,text)'),
  ('containers_vreg.lifecycle_check_lease(interval)'),
  ('containers_vreg.lifecycle_check_upstream(bigint,bigint)'),
  ('containers_vreg.mark_for_destruction(bigint,bigint)'), ('containers_vreg.purge_upstream(bigint,bigint)'),
  ('containers_vreg.purge_registry(bigint,bigint)'),
  ('containers_vreg.claim_for_destruction(integer,interval)'),
  ('containers_vreg.end_destruction(bigint,bigint,boolean)'),
  ('containers_vreg.finish_destruction(bigint,bigint)'), ('containers_vreg.fail_destruction(bigint,bigint)'),
  ('containers_vreg.retry_destruction(bigint)'), ('containers_vreg.mark_unused(bigint,integer,integer)'),
  ('containers_vreg.claim_fetch(bigint,bigint,text,interval)'), ('containers_vreg.prune_fetch_leases()'),
  ('containers_vreg.group_usage(bigint)'), ('containers_vreg.compact_usage(bigint)'),
  ('containers_vreg.rebuild_usage(bigint)'), ('containers_vreg.lock_group_usage(bigint)'),
  ('containers_vreg.check_trigger_context(text,oid,text,text,text)'),
  ('containers_vreg.reset_credentials_secret(boolean)'),
  ('containers_vreg.begin_fetch(bigint,bigint,text,bigint,interval)'),
  ('containers_vreg.release_fetch(bigint,bigint,text)'),
  ('containers_vreg.renew_fetch(bigint,bigint,text,text,interval)'),
  ('containers_vreg.store_cache_entry(bigint,bigint,text,text,bigint,bytea,text,text,text,bytea,text)'),
  ('containers_vreg.unreferenced_objects(bigint,text[])'),
  ('containers_vreg.create_registry(bigint,text,text)'),
  ('containers_vreg.create_upstream(bigint,text,text,text,smallint,jsonb)'),
  ('containers_vreg.update_upstream(bigint,bigint,text,text,text,smallint,jsonb,boolean)'),
  ('containers_vreg.delete_upstream(bigint,bigint)'),
  ('containers_vreg.check_stored_object(bigint,text,text)');
SELECT p.oid::regprocedure AS not_covered
  FROM pg_depend d JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'containers_vreg')
   AND p.prorettype <> 'trigger'::regtype
EXCEPT SELECT f FROM hostile_t.covered;
SELECT count(*) AS functions_covered FROM hostile_t.covered;

-- 2. Every numeric edge in every bigint/integer argument (the others valid).
-- %s is the edge; calls are rolled back, results shown.
CREATE TABLE hostile_t.calls (fn text, arg text, typ text, stmt text);
INSERT INTO hostile_t.calls VALUES
  ('object_storage_prefix', 'group_id', 'bigint', 'SELECT containers_vreg.object_storage_prefix(%s)'),
  ('create_hash_partitions', 'modulus', 'integer', 'SELECT containers_vreg.create_hash_partitions(''hostile_t.hp'', %s)'),
  ('attach_upstream', 'group_id', 'bigint', 'SELECT containers_vreg.attach_upstream(%s, 1001, 2001)'),
  ('attach_upstream', 'registry_id', 'bigint', 'SELECT containers_vreg.attach_upstream(1, %s, 2001)'),
  ('attach_upstream', 'upstream_id', 'bigint', 'SELECT containers_vreg.attach_upstream(1, 1001, %s)'),
  ('move_upstream', 'group_id', 'bigint', 'SELECT containers_vreg.move_upstream(%s, 1001, 2001, 2)'),
  ('move_upstream', 'registry_id', 'bigint', 'SELECT containers_vreg.move_upstream(1, %s, 2001, 2)'),
  ('move_upstream', 'upstream_id', 'bigint', 'SELECT containers_vreg.move_upstream(1, 1001, %s, 2)'),
  ('move_upstream', 'position', 'integer', 'SELECT containers_vreg.move_upstream(1, 1001, 2001, %s)'),
  ('detach_upstream', 'group_id', 'bigint', 'SELECT containers_vreg.detach_upstream(%s, 1001, 2001)'),
  ('detach_upstream', 'registry_id', 'bigint', 'SELECT containers_vreg.detach_upstream(1, %s, 2001)'),
  ('detach_upstream', 'upstream_id', 'bigint', 'SELECT containers_vreg.detach_upstream(1, 1001, %s)'),
  ('delete_registry', 'group_id', 'bigint', 'SELECT containers_vreg.delete_registry(%s, 1001)'),
  ('delete_registry', 'registry_id', 'bigint', 'SELECT containers_vreg.delete_registry(1, %s)'),
  ('registry_upstreams', 'group_id', 'bigint', 'SELECT string_agg(x::text, '' '') FROM containers_vreg.registry_upstreams(%s, 1001) x'),
  ('registry_upstreams', 'registry_id', 'bigint', 'SELECT string_agg(x::text, '' '') FROM containers_vreg.registry_upstreams(1, %s) x'),
  ('upstream_credentials', 'group_id', 'bigint', 'SELECT containers_vreg.upstream_credentials(%s, 2001)'),
  ('upstream_credentials', 'upstream_id', 'bigint', 'SELECT containers_vreg.upstream_credentials(1, %s)'),
  ('rotate_credentials', 'batch_size', 'integer', 'SELECT containers_vreg.rotate_credentials(%s)'),
  ('cache_entry_partition', 'group_id', 'bigint', 'SELECT containers_vreg.cache_entry_partition(%s)'),
  ('hash_partition_for', 'key', 'bigint', 'SELECT containers_vreg.hash_partition_for(''containers_vreg.cache_entries'', %s)'),
  ('cache_entry_partition_index', 'group_id', 'bigint', 'SELECT containers_vreg.cache_entry_partition_index(%s, 16)'),
  ('cache_entry_partition_index', 'modulus', 'integer', 'SELECT containers_vreg.cache_entry_partition_index(1, %s)'),
  ('cache_entry_shard', 'group_id', 'bigint', 'SELECT containers_vreg.cache_entry_shard(%s, 1024)'),
  ('cache_entry_shard', 'shards', 'integer', 'SELECT containers_vreg.cache_entry_shard(1, %s)'),
  ('resolve', 'group_id', 'bigint', 'SELECT (containers_vreg.resolve(%s, 1001, ''alpine/manifests/3.21'')).result'),
  ('resolve', 'registry_id', 'bigint', 'SELECT (containers_vreg.resolve(1, %s, ''alpine/manifests/3.21'')).result'),
  ('upsert_cache_entry', 'group_id', 'bigint', 'SELECT (containers_vreg.upsert_cache_entry(%s, 2001, ''library/alpine/manifests/3.21'', 5, ''f'', ''\x0000000000000000000000000000000000000000'')).size'),
  ('upsert_cache_entry', 'upstream_id', 'bigint', 'SELECT (containers_vreg.upsert_cache_entry(1, %s, ''library/alpine/manifests/3.21'', 5, ''f'', ''\x0000000000000000000000000000000000000000'')).size'),
  ('upsert_cache_entry', 'size', 'bigint', 'SELECT (containers_vreg.upsert_cache_entry(1, 2001, ''library/alpine/manifests/3.21'', %s, ''f'', ''\x0000000000000000000000000000000000000000'')).size'),
  ('mark_checked', 'group_id', 'bigint', 'SELECT containers_vreg.mark_checked(%s, 3001)'),
  ('mark_checked', 'entry_id', 'bigint', 'SELECT containers_vreg.mark_checked(1, %s)'),
  ('record_download', 'group_id', 'bigint', 'SELECT containers_vreg.record_download(%s, 3001)'),
  ('record_download', 'entry_id', 'bigint', 'SELECT containers_vreg.record_download(1, %s)'),
  ('lifecycle_check_not_null', 'value', 'bigint', 'SELECT containers_vreg.lifecycle_check_not_null(%s, ''value'')'),
  ('lifecycle_check_upstream', 'group_id', 'bigint', 'SELECT containers_vreg.lifecycle_check_upstream(%s, 2001)'),
  ('lifecycle_check_upstream', 'upstream_id', 'bigint', 'SELECT containers_vreg.lifecycle_check_upstream(1, %s)'),
  ('mark_for_destruction', 'group_id', 'bigint', 'SELECT containers_vreg.mark_for_destruction(%s, 3001)'),
  ('mark_for_destruction', 'entry_id', 'bigint', 'SELECT containers_vreg.mark_for_destruction(1, %s)'),
  ('purge_upstream', 'group_id', 'bigint', 'SELECT containers_vreg.purge_upstream(%s, 2001)'),
  ('purge_upstream', 'upstream_id', 'bigint', 'SELECT containers_vreg.purge_upstream(1, %s)'),
  ('purge_registry', 'group_id', 'bigint', 'SELECT containers_vreg.purge_registry(%s, 1001)'),
  ('purge_registry', 'registry_id', 'bigint', 'SELECT containers_vreg.purge_registry(1, %s)'),
  ('claim_for_destruction', 'batch', 'integer', 'SELECT count(*) FROM containers_vreg.claim_for_destruction(%s)'),
  ('end_destruction', 'group_id', 'bigint', 'SELECT containers_vreg.end_destruction(%s, 3001, false)'),
  ('end_destruction', 'entry_id', 'bigint', 'SELECT containers_vreg.end_destruction(1, %s, true)'),
  ('finish_destruction', 'group_id', 'bigint', 'SELECT containers_vreg.finish_destruction(%s, 3001)'),
  ('finish_destruction', 'entry_id', 'bigint', 'SELECT containers_vreg.finish_destruction(1, %s)'),
  ('fail_destruction', 'group_id', 'bigint', 'SELECT containers_vreg.fail_destruction(%s, 3001)'),
  ('fail_destruction', 'entry_id', 'bigint', 'SELECT containers_vreg.fail_destruction(1, %s)'),
  ('retry_destruction', 'group_id', 'bigint', 'SELECT containers_vreg.retry_destruction(%s)'),
  ('mark_unused', 'group_id', 'bigint', 'SELECT (containers_vreg.mark_unused(%s, 30)).entries'),
  ('mark_unused', 'keep_days', 'integer', 'SELECT (containers_vreg.mark_unused(1, %s)).entries'),
  ('mark_unused', 'batch', 'integer', 'SELECT (containers_vreg.mark_unused(1, 30, %s)).entries'),
  ('claim_fetch', 'group_id', 'bigint', 'SELECT containers_vreg.claim_fetch(%s, 2001, ''alpine/manifests/new'')'),
  ('claim_fetch', 'upstream_id', 'bigint', 'SELECT containers_vreg.claim_fetch(1, %s, ''alpine/manifests/new'')'),
  ('group_usage', 'group_id', 'bigint', 'SELECT string_agg(x::text, '' '') FROM containers_vreg.group_usage(%s) x'),
  ('compact_usage', 'group_id', 'bigint', 'SELECT containers_vreg.compact_usage(%s)'),
  ('rebuild_usage', 'group_id', 'bigint', 'SELECT containers_vreg.rebuild_usage(%s)'),
  ('begin_fetch', 'group_id', 'bigint', 'SELECT containers_vreg.begin_fetch(%s, 2001, ''alpine/manifests/new'') IS NOT NULL'),
  ('begin_fetch', 'upstream_id', 'bigint', 'SELECT containers_vreg.begin_fetch(1, %s, ''alpine/manifests/new'') IS NOT NULL'),
  ('begin_fetch', 'replacing', 'bigint', 'SELECT containers_vreg.begin_fetch(1, 2001, ''alpine/manifests/new'', %s) IS NOT NULL'),
  ('release_fetch', 'group_id', 'bigint', 'SELECT containers_vreg.release_fetch(%s, 2001, ''alpine/manifests/new'')'),
  ('release_fetch', 'upstream_id', 'bigint', 'SELECT containers_vreg.release_fetch(1, %s, ''alpine/manifests/new'')'),
  ('renew_fetch', 'group_id', 'bigint', 'SELECT containers_vreg.renew_fetch(%s, 2001, ''alpine/manifests/new'', ''groups/1/x'')'),
  ('renew_fetch', 'upstream_id', 'bigint', 'SELECT containers_vreg.renew_fetch(1, %s, ''alpine/manifests/new'', ''groups/1/x'')'),
  ('store_cache_entry', 'group_id', 'bigint', 'SELECT (containers_vreg.store_cache_entry(%s, 2001, ''library/alpine/manifests/3.21'', ''groups/1/new'', 5, ''\x0000000000000000000000000000000000000000'', ''text/plain'', ''sha256:' || repeat('a', 64) || ''')).size'),
  ('store_cache_entry', 'upstream_id', 'bigint', 'SELECT (containers_vreg.store_cache_entry(1, %s, ''library/alpine/manifests/3.21'', ''groups/1/new'', 5, ''\x0000000000000000000000000000000000000000'', ''text/plain'', ''sha256:' || repeat('a', 64) || ''')).size'),
  ('store_cache_entry', 'size', 'bigint', 'SELECT (containers_vreg.store_cache_entry(1, 2001, ''library/alpine/manifests/3.21'', containers_vreg.begin_fetch(1, 2001, ''library/alpine/manifests/3.21'', (SELECT max(id) FROM containers_vreg.cache_entries WHERE group_id = 1 AND upstream_id = 2001 AND relative_path = ''/library/alpine/manifests/3.21'' AND status = 0)), %s, ''\x0000000000000000000000000000000000000000'', ''text/plain'', ''sha256:' || repeat('a', 64) || ''')).size'),
  ('lock_group_usage', 'group_id', 'bigint', 'SELECT containers_vreg.lock_group_usage(%s)'),
  ('unreferenced_objects', 'group_id', 'bigint', 'SELECT string_agg(k, '' '') FROM containers_vreg.unreferenced_objects(%s, ARRAY[''groups/1/e3001'', ''groups/1/x'']) k'),
  ('create_registry', 'group_id', 'bigint', 'SELECT containers_vreg.create_registry(%s, ''hostile'') IS NOT NULL'),
  ('create_upstream', 'group_id', 'bigint', 'SELECT containers_vreg.create_upstream(%s, ''https://quay.io'') IS NOT NULL'),
  ('update_upstream', 'group_id', 'bigint', 'SELECT containers_vreg.update_upstream(%s, 2002, name => ''x'')'),
  ('update_upstream', 'upstream_id', 'bigint', 'SELECT containers_vreg.update_upstream(1, %s, name => ''x'')'),
  ('delete_upstream', 'group_id', 'bigint', 'SELECT containers_vreg.delete_upstream(%s, 2002)'),
  ('delete_upstream', 'upstream_id', 'bigint', 'SELECT containers_vreg.delete_upstream(1, %s)'),
  ('check_stored_object', 'group_id', 'bigint', 'SELECT containers_vreg.check_stored_object(%s, ''groups/1/x'', ''text/plain'')');

-- A scratch hash-partitioned table without partitions for create_hash_partitions.
CREATE TABLE hostile_t.hp (k bigint) PARTITION BY HASH (k);

SELECT c.fn, c.arg, e.v AS edge,
       hostile_t.try(format(c.stmt, '(' || coalesce(e.v, 'NULL') || ')::' || c.typ)) AS result
  FROM hostile_t.calls c
  CROSS JOIN LATERAL (VALUES (1, '0'), (2, '-1'), (3, '-2147483648'), (4, '2147483647'),
                             (5, '-9223372036854775808'), (6, '9223372036854775807'),
                             (7, NULL)) AS e(n, v)
 ORDER BY c.fn, c.arg, e.n;
SELECT vreg_test.state() = :'s0' AS unchanged_after_edges;

-- The functions without numeric arguments, once each (rolled back).
SELECT hostile_t.try('SELECT containers_vreg.flush_downloads()') AS flush_downloads,
       hostile_t.try('SELECT containers_vreg.prune_fetch_leases()') AS prune_fetch_leases;

-- 3. Intervals: negative, zero, tiny, huge, the type's own limits, NULL.
SELECT f.fn, i.v AS lease, hostile_t.try(format(f.stmt, coalesce(quote_literal(i.v), 'NULL') || '::interval')) AS result
  FROM (VALUES ('lifecycle_check_lease', 'SELECT containers_vreg.lifecycle_check_lease(%s)'),
               ('claim_for_destruction', 'SELECT count(*) FROM containers_vreg.claim_for_destruction(10, %s)'),
               ('claim_fetch', 'SELECT containers_vreg.claim_fetch(1, 2001, ''alpine/manifests/new'', %s)'))
       AS f(fn, stmt)
  CROSS JOIN LATERAL (VALUES (1, '-178000000 years'), (2, '-1 microsecond'), (3, '0'),
                             (4, '1 microsecond'), (5, '178000000 years'),
                             (6, '2147483647 days'), (7, '9223372036854775807 microseconds'),
                             (8, '-2147483648 months'), (9, NULL)) AS i(n, v)
 ORDER BY f.fn, i.n;
SELECT vreg_test.err($$SELECT containers_vreg.lifecycle_check_lease('178956971 years')$$);
SELECT vreg_test.state() = :'s0' AS unchanged_after_intervals;

-- 4. 1 MB strings in every text argument.
SELECT a.fn, hostile_t.try(a.stmt) AS result
  FROM (VALUES
    (1, 'check_upstream_url', $$SELECT containers_vreg.check_upstream_url('https://' || repeat('a', 1048576))$$),
    (2, 'is_docker_hub_url', $$SELECT containers_vreg.is_docker_hub_url(repeat('a', 1048576))$$),
    (3, 'parse_request_path', $$SELECT containers_vreg.parse_request_path(repeat('a', 1048576) || '/manifests/x')$$),
    (4, 'parse_request_path tag', $$SELECT containers_vreg.parse_request_path('a/manifests/' || repeat('a', 1048576))$$),
    (5, 'etag_digest', $$SELECT containers_vreg.etag_digest('"sha256:' || repeat('a', 1048576) || '"')$$),
    (6, 'resolve', $$SELECT (containers_vreg.resolve(1, 1001, repeat('a/', 524288) || 'manifests/x')).result$$),
    (7, 'upsert path', $$SELECT (containers_vreg.upsert_cache_entry(1, 2001, repeat('a', 1048576), 1, 'f', '\x0000000000000000000000000000000000000000')).id$$),
    (8, 'upsert file', $$SELECT (containers_vreg.upsert_cache_entry(1, 2001, 'a/manifests/x', 1, repeat('f', 1048576), '\x0000000000000000000000000000000000000000')).id$$),
    (9, 'upsert content_type', $$SELECT (containers_vreg.upsert_cache_entry(1, 2001, 'a/manifests/x', 1, 'f', '\x0000000000000000000000000000000000000000', repeat('t', 1048576))).id$$),
    (10, 'upsert upstream_etag', $$SELECT (containers_vreg.upsert_cache_entry(1, 2001, 'a/manifests/x', 1, 'f', '\x0000000000000000000000000000000000000000', NULL, repeat('e', 1048576))).id$$),
    (11, 'upsert object_storage_key', $$SELECT (containers_vreg.upsert_cache_entry(1, 2001, 'a/manifests/x', 1, 'f', '\x0000000000000000000000000000000000000000', NULL, NULL, NULL, 'groups/1/' || repeat('k', 1048576))).id$$),
    (12, 'upsert file_sha1 1 MB', $$SELECT (containers_vreg.upsert_cache_entry(1, 2001, 'a/manifests/x', 1, 'f', decode(repeat('00', 1048576), 'hex'))).id$$),
    (13, 'upsert file_md5 1 MB', $$SELECT (containers_vreg.upsert_cache_entry(1, 2001, 'a/manifests/x', 1, 'f', '\x0000000000000000000000000000000000000000', NULL, NULL, decode(repeat('00', 1048576), 'hex'))).id$$),
    (14, 'claim_fetch', $$SELECT containers_vreg.claim_fetch(1, 2001, repeat('a', 1048576))$$),
    (15, 'lifecycle_check_not_null argname', $$SELECT containers_vreg.lifecycle_check_not_null(NULL::text, repeat('n', 1048576))$$),
    (16, 'lifecycle_check_not_null value', $$SELECT containers_vreg.lifecycle_check_not_null(repeat('v', 1048576), 'v')$$),
    (17, 'unreferenced_objects key', $$SELECT count(*) FROM containers_vreg.unreferenced_objects(1, ARRAY['groups/1/' || repeat('k', 1048576)])$$),
    (18, 'create_registry name', $$SELECT containers_vreg.create_registry(1, repeat('n', 1048576))$$),
    (19, 'create_registry description', $$SELECT containers_vreg.create_registry(1, 'n', repeat('d', 1048576))$$),
    (20, 'create_upstream url', $$SELECT containers_vreg.create_upstream(1, 'https://' || repeat('a', 1048576))$$),
    (21, 'create_upstream name', $$SELECT containers_vreg.create_upstream(1, 'https://quay.io', repeat('n', 1048576))$$),
    (22, 'update_upstream url', $$SELECT containers_vreg.update_upstream(1, 2002, url => 'https://' || repeat('a', 1048576))$$),
    (23, 'update_upstream description', $$SELECT containers_vreg.update_upstream(1, 2001, description => repeat('d', 1048576))$$))
    AS a(n, fn, stmt)
 ORDER BY a.n;
SELECT vreg_test.state() = :'s0' AS unchanged_after_1mb;

-- 5. NUL bytes: text cannot hold one, so every way of writing one is refused
-- before the function runs; bytea arguments take NUL bytes as data.
SELECT vreg_test.err($$SELECT containers_vreg.parse_request_path('a/manifests/' || chr(0))$$) AS chr0;
SELECT vreg_test.err(E'SELECT containers_vreg.check_upstream_url(E''https://a\\000.example.com'')') AS octal_escape;
SELECT vreg_test.err($$SELECT containers_vreg.etag_digest(convert_from('\x00', 'UTF8'))$$) AS convert_from;
SELECT vreg_test.err($$SELECT containers_vreg.is_docker_hub_url(U&'\0000')$$) AS unicode_escape;
SELECT vreg_test.err($$UPDATE containers_vreg.upstreams SET credentials = '{"username": "a\u0000", "password": "p"}' WHERE id = 2002$$) AS json_nul;
-- Percent-encoded NUL and control characters reach the parsers: 22023.
SELECT p AS path, hostile_t.try(format('SELECT containers_vreg.parse_request_path(%L)', p)) AS result
  FROM unnest(ARRAY['a%00/manifests/x', E'a\x01/manifests/x', E'a/manifests/x\n', E'a/blobs/sha256:\t',
                    'a/manifests/x%00', 'a/../manifests/x', '/', '', ' ']) WITH ORDINALITY AS t(p, n)
 ORDER BY n;
SELECT hostile_t.try($$SELECT (containers_vreg.upsert_cache_entry(1, 2001, 'a/manifests/x', 1, 'f', '\x0000000000000000000000000000000000000000', NULL, NULL, '\x00000000000000000000000000000000')).file_md5$$) AS nul_md5_ok,
       hostile_t.try($$SELECT (containers_vreg.upsert_cache_entry(1, 2001, 'a/manifests/x', 1, 'f', '\x00')).id$$) AS nul_sha1_short,
       hostile_t.try($$SELECT (containers_vreg.upsert_cache_entry(1, 2001, 'a/manifests/x', 1, 'f', '\x')).id$$) AS empty_sha1;
SELECT vreg_test.state() = :'s0' AS unchanged_after_nul;

-- 6. Hostile credentials JSON (the upstreams_credentials trigger): deeply
-- nested, huge, envelope-shaped with absurd members. 22023, never a value.
SELECT j.what, vreg_test.err(format('UPDATE containers_vreg.upstreams SET credentials = %s WHERE group_id = 1 AND id = 2002', j.expr)) AS result
  FROM (VALUES
    (1, '10000-level array', $$(repeat('[', 10000) || repeat(']', 10000))::jsonb$$),
    (2, '10000-level object', $$(repeat('{"a": ', 10000) || '1' || repeat('}', 10000))::jsonb$$),
    (3, 'nested username', $$('{"password": "p", "username": ' || repeat('{"a": ', 10000) || '"x"' || repeat('}', 10000) || '}')::jsonb$$),
    (4, 'nested password array', $$('{"username": "u", "password": ' || repeat('[', 10000) || repeat(']', 10000) || '}')::jsonb$$),
    (5, '100k keys', $$(SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 100000) i)$$),
    (6, '100k keys + username/password', $$(SELECT jsonb_object_agg('k' || i, i) || '{"username": "u", "password": "p"}' FROM generate_series(1, 100000) i)$$),
    (7, '100k-element array', $$(SELECT jsonb_agg(i) FROM generate_series(1, 100000) i)$$),
    (8, '1 MB username', $$jsonb_build_object('username', repeat('u', 1048576), 'password', 'p')$$),
    (9, '1 MB key', $$jsonb_build_object(repeat('k', 1048576), 'x')$$),
    (10, '511 two-byte characters', $$jsonb_build_object('username', repeat('é', 511), 'password', 'p')$$),
    (11, 'json null', $$'null'::jsonb$$),
    (12, 'json string', $$'"u:p"'::jsonb$$),
    (13, 'json number', $$'1e131071'::jsonb$$),
    (14, 'envelope, 1 MB nonce and ct', $$jsonb_build_object('v', 1, 'kid', 2, 'nonce', repeat('A', 1048576), 'ct', repeat('A', 1048576))$$),
    (15, 'envelope, v = 1e131071', $$'{"v": 1e131071, "kid": 2, "nonce": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "ct": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}'::jsonb$$),
    (16, 'envelope, kid = 2^32 + 2', $$'{"v": 1, "kid": 4294967298, "nonce": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "ct": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}'::jsonb$$),
    (17, 'envelope, kid = -1', $$'{"v": 1, "kid": -1, "nonce": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "ct": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}'::jsonb$$),
    (18, 'envelope, kid = 1.5', $$'{"v": 1, "kid": 1.5, "nonce": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "ct": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}'::jsonb$$),
    (19, 'envelope, nested members', $$'{"v": [1], "kid": {"a": 2}, "nonce": [], "ct": {}}'::jsonb$$),
    (20, 'envelope only ct', $$'{"ct": "AAAA"}'::jsonb$$)) AS j(n, what, expr)
 ORDER BY j.n;
SELECT vreg_test.state() = :'s0' AS unchanged_after_credentials;
-- The limit counts characters, not bytes: 510 two-byte characters are taken.
BEGIN;
SELECT vreg_test.err($$UPDATE containers_vreg.upstreams SET credentials = jsonb_build_object('username', repeat('é', 510), 'password', 'p') WHERE group_id = 1 AND id = 2002$$) AS multibyte_510;
SELECT length(containers_vreg.upstream_credentials(1, 2002)->>'username') AS username_chars;
ROLLBACK;

-- 7. Bad regclass for hash_partition_for and create_hash_partitions.
CREATE TABLE hostile_t.plain (k bigint);
CREATE VIEW hostile_t.v AS SELECT 1 AS k;
CREATE SEQUENCE hostile_t.seq;
CREATE TABLE hostile_t.by_range (k bigint) PARTITION BY RANGE (k);
CREATE TABLE hostile_t.by_text (k text) PARTITION BY HASH (k);
CREATE TABLE hostile_t.by_expr (k bigint) PARTITION BY HASH ((k + 1));
CREATE TABLE hostile_t.by_two (a bigint, b bigint) PARTITION BY HASH (a, b);
CREATE TABLE hostile_t.sub (k bigint) PARTITION BY HASH (k);
CREATE TABLE hostile_t.sub_0 PARTITION OF hostile_t.sub FOR VALUES WITH (MODULUS 1, REMAINDER 0) PARTITION BY HASH (k);
CREATE TABLE hostile_t.gap (k bigint) PARTITION BY HASH (k);
CREATE TABLE hostile_t.gap_0 PARTITION OF hostile_t.gap FOR VALUES WITH (MODULUS 2, REMAINDER 0);
SELECT r.rel, hostile_t.try(format('SELECT containers_vreg.hash_partition_for(%s, 1)', r.rel)) AS hash_partition_for,
       hostile_t.try(format('SELECT containers_vreg.create_hash_partitions(%s, 2)', r.rel)) AS create_hash_partitions
  FROM (VALUES (1, '0'), (2, '4294967295'), (3, '''pg_class'''), (4, '''hostile_t.plain'''),
               (5, '''hostile_t.v'''), (6, '''hostile_t.seq'''), (7, '''containers_vreg.cache_entries_pkey'''),
               (8, '''containers_vreg.cache_entries_00'''), (9, '''hostile_t.by_range'''),
               (10, '''hostile_t.by_text'''), (11, '''hostile_t.by_expr'''), (12, '''hostile_t.by_two'''),
               (13, '''hostile_t.sub'''), (14, '''hostile_t.gap'''), (15, '''hostile_t.no_such_table'''),
               (16, 'NULL')) AS r(n, rel)
 ORDER BY r.n;
-- hash_partition_for with key 1 on gap: remainder 1 of modulus 2 has no partition.
SELECT vreg_test.err($$SELECT containers_vreg.hash_partition_for('hostile_t.gap', k) FROM generate_series(1, 20) k$$) AS gap;
-- A partition name longer than 63 bytes is truncated by PostgreSQL: the second
-- partition collides with the first (42P07), nothing is left half-created.
CREATE TABLE hostile_t."tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt" (k bigint) PARTITION BY HASH (k);
SELECT vreg_test.err($$SELECT containers_vreg.create_hash_partitions('hostile_t."tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt"', 2)$$) AS long_name;
SELECT count(*) AS partitions_left FROM pg_inherits
 WHERE inhparent = 'hostile_t."tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt"'::regclass;
-- Names that need quoting work.
CREATE SCHEMA "hostile ""q""";
CREATE TABLE "hostile ""q"""."a b" (k bigint) PARTITION BY HASH (k);
SELECT containers_vreg.create_hash_partitions('"hostile ""q"""."a b"', 2);
SELECT containers_vreg.hash_partition_for('"hostile ""q"""."a b"', 1);
DROP SCHEMA "hostile ""q""" CASCADE;
SELECT vreg_test.state() = :'s0' AS unchanged_after_regclass;

-- 8. The trigger-context check and the credentials secret reset (a dry run
-- only): NULL, 1 MB words, oid edges. 39P01 or 22004, or a correct result.
SELECT a.what, hostile_t.try(a.stmt) AS result
  FROM (VALUES
    (1, 'NULL function', $$SELECT containers_vreg.check_trigger_context(NULL, 'containers_vreg.upstreams'::regclass, 'AFTER', 'ROW', 'DELETE')$$),
    (2, '1 MB function', $$SELECT containers_vreg.check_trigger_context(repeat('f', 1048576), 'containers_vreg.upstreams'::regclass, 'AFTER', 'ROW', 'DELETE')$$),
    (3, '1 MB tg_when', $$SELECT containers_vreg.check_trigger_context('upstreams_mark_entries', 'containers_vreg.upstreams'::regclass, repeat('A', 1048576), 'ROW', 'DELETE')$$),
    (4, 'tg_op in lower case', $$SELECT containers_vreg.check_trigger_context('upstreams_mark_entries', 'containers_vreg.upstreams'::regclass, 'AFTER', 'ROW', 'delete')$$),
    (5, 'oid 0', $$SELECT containers_vreg.check_trigger_context('upstreams_mark_entries', 0, 'AFTER', 'ROW', 'DELETE')$$),
    (6, 'oid 4294967295', $$SELECT containers_vreg.check_trigger_context('upstreams_mark_entries', 4294967295, 'AFTER', 'ROW', 'DELETE')$$),
    (7, 'a catalog', $$SELECT containers_vreg.check_trigger_context('upstreams_mark_entries', 'pg_class'::regclass, 'AFTER', 'ROW', 'DELETE')$$),
    (8, 'its own context', $$SELECT containers_vreg.check_trigger_context('upstreams_mark_entries', 'containers_vreg.upstreams'::regclass, 'AFTER', 'ROW', 'DELETE')$$),
    (9, 'reset, NULL', $$SELECT count(*) FROM containers_vreg.reset_credentials_secret(NULL)$$),
    (10, 'reset, dry run', $$SELECT string_agg(coalesce(upstream_id::text, 'secret') || ' ' || action, ', ') FROM containers_vreg.reset_credentials_secret(true)$$))
    AS a(n, what, stmt)
 ORDER BY a.n;
SELECT vreg_test.state() = :'s0' AS unchanged_after_trigger_check;

DROP SCHEMA hostile_t CASCADE;

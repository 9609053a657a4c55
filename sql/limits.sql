-- Every limit is defined once in C (src/vreg_limits.h) and restated in SQL by
-- a CHECK constraint or an argument check: containers_vreg.limits() hands the
-- C values to this test, which checks each SQL rule at its boundary (the limit
-- is accepted, one more is refused), so the two can never drift apart.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();

-- The C values (pinned here too, so a change is seen in review).
SELECT name, value FROM containers_vreg.limits();
CREATE FUNCTION pg_temp.lim(n text) RETURNS bigint LANGUAGE sql AS
  $$ SELECT value FROM containers_vreg.limits() WHERE name = n $$;
SELECT has_function_privilege('public', 'containers_vreg.limits()', 'EXECUTE') AS public_may_execute;

-- Registries per group, upstreams per registry --------------------------------
INSERT INTO containers_vreg.registries (group_id, id, name)
  SELECT 1, i, 'r' || i FROM generate_series(1, pg_temp.lim('registries_per_group')) i;
SELECT vreg_test.err($$INSERT INTO containers_vreg.registries (group_id, name) VALUES (1, 'one more')$$);
INSERT INTO containers_vreg.upstreams (group_id, id, url)
  SELECT 1, i, 'https://u' || i || '.example.com' FROM generate_series(1, pg_temp.lim('upstreams_per_registry') + 1) i;
SELECT containers_vreg.attach_upstream(1, 1, i) FROM generate_series(1, pg_temp.lim('upstreams_per_registry')) i;
SELECT vreg_test.err(format('SELECT containers_vreg.attach_upstream(1, 1, %s)', pg_temp.lim('upstreams_per_registry') + 1));
-- the position CHECK: the limit passes it (contiguity is checked at commit,
-- which this transaction never reaches), one more does not
BEGIN;
SELECT vreg_test.err(format('INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES (1, 2, 1, %s)',
                            pg_temp.lim('upstreams_per_registry') + 1));
SELECT vreg_test.err(format('INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES (1, 2, 1, %s)',
                            pg_temp.lim('upstreams_per_registry')));
ROLLBACK;

-- Names, descriptions, URLs (characters) ------------------------------------
SELECT t, n, vreg_test.err(format(stmt, repeat('n', n::int))) AS result
  FROM (VALUES ('registries.name', $$UPDATE containers_vreg.registries SET name = %L WHERE group_id = 1 AND id = 1$$),
               ('upstreams.name', $$UPDATE containers_vreg.upstreams SET name = %L WHERE group_id = 1 AND id = 1$$),
               ('registries.description', $$UPDATE containers_vreg.registries SET description = %L WHERE group_id = 1 AND id = 1$$),
               ('upstreams.description', $$UPDATE containers_vreg.upstreams SET description = %L WHERE group_id = 1 AND id = 1$$)) s(t, stmt),
       LATERAL (VALUES (pg_temp.lim(CASE WHEN t LIKE '%name' THEN 'name_chars' ELSE 'description_chars' END)),
                       (pg_temp.lim(CASE WHEN t LIKE '%name' THEN 'name_chars' ELSE 'description_chars' END) + 1)) l(n)
 ORDER BY 1, 2;
SELECT n, vreg_test.err(format($$UPDATE containers_vreg.upstreams SET url = %L WHERE group_id = 1 AND id = 1$$,
                               'https://ghcr.io/' || repeat('p', n::int - 16))) AS result
  FROM (VALUES (pg_temp.lim('url_chars')), (pg_temp.lim('url_chars') + 1)) l(n) ORDER BY 1;

-- Cache entries: size, paths and keys (bytes), file, ETag, media type ----------
CREATE FUNCTION pg_temp.entry(size bigint DEFAULT 1, path text DEFAULT '/a/manifests/t',
                              okey text DEFAULT NULL, file text DEFAULT 'f', etag text DEFAULT NULL,
                              ctype text DEFAULT 'application/json', sha1 bytea DEFAULT decode(repeat('aa', 20), 'hex'),
                              md5 bytea DEFAULT NULL) RETURNS text LANGUAGE sql AS $$
  SELECT vreg_test.err(format(
    'INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, content_type, upstream_etag, file_sha1, file_md5, status)'
    ' VALUES (1, 1, %L, %s, %L, %L, %L, %L, %L, %L, 2)',
    path, size, file, coalesce(okey, 'groups/1/' || pg_catalog.gen_random_uuid()), ctype, etag, sha1, md5))
$$;
SELECT 'size' AS what, pg_temp.entry(size => pg_temp.lim('entry_size_bytes')) AS at_limit,
       pg_temp.entry(size => pg_temp.lim('entry_size_bytes') + 1) AS beyond
UNION ALL
SELECT 'relative_path', pg_temp.entry(path => '/' || repeat('p', pg_temp.lim('path_bytes')::int - 1)),
       pg_temp.entry(path => '/' || repeat('p', pg_temp.lim('path_bytes')::int))
UNION ALL
SELECT 'relative_path in 2-byte characters', pg_temp.entry(path => '/' || repeat('p', 1) || repeat('é', (pg_temp.lim('path_bytes')::int - 2) / 2)),
       pg_temp.entry(path => '/' || repeat('é', pg_temp.lim('path_bytes')::int / 2))
UNION ALL
SELECT 'object_storage_key', pg_temp.entry(okey => 'groups/1/' || repeat('k', pg_temp.lim('key_bytes')::int - 9)),
       pg_temp.entry(okey => 'groups/1/' || repeat('k', pg_temp.lim('key_bytes')::int - 8))
UNION ALL
SELECT 'file', pg_temp.entry(file => repeat('f', pg_temp.lim('file_chars')::int)),
       pg_temp.entry(file => repeat('f', pg_temp.lim('file_chars')::int + 1))
UNION ALL
SELECT 'upstream_etag', pg_temp.entry(etag => repeat('e', pg_temp.lim('etag_chars')::int)),
       pg_temp.entry(etag => repeat('e', pg_temp.lim('etag_chars')::int + 1))
UNION ALL
SELECT 'content_type', pg_temp.entry(ctype => repeat('c', pg_temp.lim('content_type_chars')::int)),
       pg_temp.entry(ctype => repeat('c', pg_temp.lim('content_type_chars')::int + 1))
UNION ALL
SELECT 'file_sha1', pg_temp.entry(sha1 => decode(repeat('ab', pg_temp.lim('sha1_bytes')::int), 'hex')),
       pg_temp.entry(sha1 => decode(repeat('ab', pg_temp.lim('sha1_bytes')::int + 1), 'hex'))
UNION ALL
SELECT 'file_md5', pg_temp.entry(md5 => decode(repeat('ab', pg_temp.lim('md5_bytes')::int), 'hex')),
       pg_temp.entry(md5 => decode(repeat('ab', pg_temp.lim('md5_bytes')::int + 1), 'hex'));

-- The same limits as argument checks of the API -------------------------------
SELECT 'upsert_cache_entry size' AS what,
       vreg_test.err(format($$SELECT containers_vreg.upsert_cache_entry(1, 1, 'b/manifests/t', %s, 'f', decode(repeat('aa', 20), 'hex'))$$,
                            pg_temp.lim('entry_size_bytes'))) AS at_limit,
       vreg_test.err(format($$SELECT containers_vreg.upsert_cache_entry(1, 1, 'b/manifests/u', %s, 'f', decode(repeat('aa', 20), 'hex'))$$,
                            pg_temp.lim('entry_size_bytes') + 1)) AS beyond
UNION ALL
SELECT 'request path bytes (C parser)',
       vreg_test.err(format($$SELECT containers_vreg.parse_request_path(%L)$$, repeat('a', pg_temp.lim('request_path_bytes')::int))),
       vreg_test.err(format($$SELECT containers_vreg.parse_request_path(%L)$$, repeat('a', pg_temp.lim('request_path_bytes')::int + 1)))
UNION ALL
SELECT 'request path bytes = relative_path bytes', (pg_temp.lim('request_path_bytes') = pg_temp.lim('path_bytes'))::text, ''
UNION ALL
SELECT 'mark_unused keep_days',
       vreg_test.err(format('SELECT containers_vreg.mark_unused(1, %s, 1)', pg_temp.lim('keep_days'))),
       vreg_test.err(format('SELECT containers_vreg.mark_unused(1, %s, 1)', pg_temp.lim('keep_days') + 1))
UNION ALL
SELECT 'claim_for_destruction lease',
       vreg_test.err(format($$SELECT containers_vreg.claim_for_destruction(1, '%s days')$$, pg_temp.lim('lease_days'))),
       vreg_test.err(format($$SELECT containers_vreg.claim_for_destruction(1, '%s days 1 second')$$, pg_temp.lim('lease_days')))
UNION ALL
SELECT 'unreferenced_objects keys',
       vreg_test.err(format($$SELECT count(*) FROM containers_vreg.unreferenced_objects(1, array(SELECT 'groups/1/k' || i FROM generate_series(1, %s) i))$$,
                            pg_temp.lim('object_keys_per_call'))),
       vreg_test.err(format($$SELECT count(*) FROM containers_vreg.unreferenced_objects(1, array(SELECT 'groups/1/k' || i FROM generate_series(1, %s) i))$$,
                            pg_temp.lim('object_keys_per_call') + 1))
UNION ALL
SELECT 'cache_entry_shard shards',
       vreg_test.err(format('SELECT containers_vreg.cache_entry_shard(1, %s)', pg_temp.lim('shards'))),
       vreg_test.err(format('SELECT containers_vreg.cache_entry_shard(1, %s)', 2 * pg_temp.lim('shards')))
UNION ALL
SELECT 'create_hash_partitions modulus',
       -- creating 1024 partitions to show the limit itself is accepted would
       -- cost more than this test; the function's check names the limit
       (SELECT (prosrc LIKE '%modulus > ' || pg_temp.lim('modulus') || ' %')::text
          FROM pg_proc WHERE oid = 'containers_vreg.create_hash_partitions'::regproc),
       vreg_test.err(format($$SELECT containers_vreg.create_hash_partitions('containers_vreg.registries', %s)$$, pg_temp.lim('modulus') + 1));

-- Credentials: each value at most the limit, in characters ---------------------
SELECT n, vreg_test.err(format($$UPDATE containers_vreg.upstreams SET credentials = %L WHERE group_id = 1 AND id = 2$$,
                               jsonb_build_object('username', 'u', 'password', repeat('é', n::int)))) AS result
  FROM (VALUES (pg_temp.lim('credential_chars')), (pg_temp.lim('credential_chars') + 1)) l(n) ORDER BY 1;

SELECT vreg_test.reset();

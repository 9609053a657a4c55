-- The request path (docs/design.md, "The request path"):
-- resolve, upsert_cache_entry, mark_checked, record_download/flush_downloads
-- and the path helpers. Every refused call leaves the tables unchanged.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();
TRUNCATE containers_vreg.download_buffer;
-- ids appear in some messages: start from a known value
SELECT setval('containers_vreg.cache_entries_id_seq', 1000, false) AS first_id;

SELECT 'sha256:' || repeat('a', 64) AS da, 'sha256:' || repeat('b', 64) AS db,
       'sha256:' || repeat('c', 64) AS dc, 'sha512:' || repeat('d', 128) AS dd,
       '\x' || repeat('11', 20) AS sha1 \gset

-- group 1: registry 10 = docker hub (1), ghcr (2), quay (3, cache_validity_hours 0)
--          registry 11 = ghcr (1), docker hub (2); registry 12 = quay only
-- group 2: registry 30 with upstream 40
INSERT INTO containers_vreg.registries (group_id, id, name) VALUES
  (1, 10, 'main'), (1, 11, 'reversed'), (1, 12, 'quay'), (2, 30, 'other');
INSERT INTO containers_vreg.upstreams (group_id, id, url, cache_validity_hours) VALUES
  (1, 20, 'https://registry-1.docker.io', 24), (1, 21, 'https://ghcr.io', 24),
  (1, 22, 'https://quay.io', 0), (2, 40, 'https://ghcr.io', 24);
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES
  (1, 10, 20, 1), (1, 10, 21, 2), (1, 10, 22, 3),
  (1, 11, 21, 1), (1, 11, 20, 2),
  (1, 12, 22, 1),
  (2, 30, 40, 1);

-- Compact view of a resolve result.
CREATE FUNCTION pg_temp.r(g bigint, reg bigint, p text)
RETURNS TABLE (result text, upstream_id bigint, "position" smallint, relative_path text, digest text)
LANGUAGE sql AS $$
  SELECT r.result, r.upstream_id, r.position, r.relative_path, left(r.digest, 10)
    FROM containers_vreg.resolve(g, reg, p) r
$$;
CREATE FUNCTION pg_temp.up(u bigint, p text, etag text DEFAULT NULL, ctype text DEFAULT NULL, okey text DEFAULT NULL)
RETURNS bigint LANGUAGE sql AS $$
  SELECT id FROM containers_vreg.upsert_cache_entry(1, u, p, 100, 'file', '\x1111111111111111111111111111111111111111', ctype, etag, NULL, okey)
$$;

-- path helpers -----------------------------------------------------------------
SELECT * FROM containers_vreg.parse_request_path('/library/alpine/manifests/3.21');
SELECT * FROM containers_vreg.parse_request_path('alpine/manifests/3.21');            -- leading slash optional
SELECT * FROM containers_vreg.parse_request_path('alpine/manifests/3.21', true);      -- Docker Hub: library/
SELECT * FROM containers_vreg.parse_request_path('grafana/loki/manifests/3.0', true); -- two components: kept
SELECT relative_path, kind, left(digest, 10) FROM containers_vreg.parse_request_path('a/blobs/manifests/blobs/' || :'da'); -- split at the last two
SELECT relative_path, kind FROM containers_vreg.parse_request_path('x/manifests/blobs/manifests/' || :'dd');
SELECT kind FROM containers_vreg.parse_request_path('a__b-c.d/e---f_g/manifests/_Tag.1-x');
SELECT kind FROM containers_vreg.parse_request_path('a/manifests/' || repeat('T', 128));
SELECT kind FROM containers_vreg.parse_request_path(repeat('n', 255) || '/manifests/t');
SELECT containers_vreg.etag_digest('"' || :'da' || '"') = :'da' AS quoted,
       containers_vreg.etag_digest('W/"' || :'da' || '"') = :'da' AS weak,
       containers_vreg.etag_digest(:'da') = :'da' AS bare,
       containers_vreg.etag_digest('"abc123"') IS NULL AS not_digest,
       containers_vreg.etag_digest('"sha256:' || repeat('A', 64) || '"') IS NULL AS uppercase_hex,
       containers_vreg.etag_digest('"md5:' || repeat('a', 32) || '"') IS NULL AS other_alg;
SELECT u, containers_vreg.is_docker_hub_url(u)
  FROM unnest(ARRAY['https://registry-1.docker.io', 'https://docker.io/', 'https://INDEX.docker.io:443/v2',
                    'https://docker.io.', 'https://ghcr.io', 'https://docker.io.evil.example',
                    'https://mirror.docker.io']) u;

-- every bad path: 22023 naming the problem, from every function alike ------------
SELECT p, vreg_test.err(format('SELECT * FROM containers_vreg.parse_request_path(%L)', p)) AS parse_error
  FROM unnest(ARRAY[
    '', '/', 'alpine', 'alpine/manifests', 'alpine/manifests/', '/manifests/latest',
    'Alpine/manifests/latest', 'library/Alpine/manifests/latest', 'a//b/manifests/x', '//a/manifests/x',
    'a..b/manifests/x', 'a-/manifests/x', '-a/manifests/x', 'a___b/manifests/x', 'a/_b/manifests/x',
    'alpine/tags/list', 'alpine/blobs/latest', 'alpine/manifests/-bad', 'alpine/manifests/.bad',
    'alpine/manifests/la test', 'alp' || chr(239) || 'ne/manifests/x', 'alpine/manifests/x' || chr(9),
    'alpine/manifests/sha256:abc', 'alpine/manifests/sha256:' || repeat('A', 64),
    'alpine/blobs/sha512:' || repeat('d', 64), 'alpine/blobs/md5:' || repeat('a', 32),
    'alpine/blobs/:' || repeat('a', 64), 'alpine/manifests/sha256:' || repeat('a', 64) || '/x'
  ]) p;
SELECT vreg_test.err($$SELECT * FROM containers_vreg.parse_request_path(repeat('n', 256) || '/manifests/t')$$);
SELECT vreg_test.err($$SELECT * FROM containers_vreg.parse_request_path('a/manifests/' || repeat('t', 129))$$);
SELECT vreg_test.err($$SELECT * FROM containers_vreg.parse_request_path(repeat('a/', 511) || 'manifests/x')$$); -- 1033 chars
SELECT containers_vreg.parse_request_path(NULL) IS NULL AS strict_null;

SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err($$SELECT * FROM containers_vreg.resolve(1, 10, 'Alpine/manifests/latest')$$);
SELECT vreg_test.err($$SELECT * FROM containers_vreg.resolve(1, 10, '')$$);
SELECT vreg_test.err($$SELECT * FROM containers_vreg.resolve(1, 10, 'alpine/blobs/latest')$$);
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 20, 'Alpine/manifests/latest', 1, 'f', '\x1111111111111111111111111111111111111111')$$);
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 20, 'alpine/blobs/md5:abc', 1, 'f', '\x1111111111111111111111111111111111111111')$$);
SELECT vreg_test.state() = :'s0' AS unchanged;

-- resolve: miss, hit, position order --------------------------------------------
SELECT * FROM containers_vreg.resolve(1, 10, 'library/alpine/manifests/3.21');   -- empty cache: miss, all NULL
SELECT pg_temp.up(21, 'alpine/manifests/3.21') AS ghcr_tag \gset
SELECT * FROM pg_temp.r(1, 10, 'alpine/manifests/3.21');           -- only ghcr (position 2) has it
SELECT * FROM pg_temp.r(1, 10, '/alpine/manifests/3.21');          -- leading slash: same
SELECT * FROM pg_temp.r(1, 10, 'library/alpine/manifests/3.21');   -- ghcr keeps names as given: miss
-- Docker Hub stores it as library/alpine
SELECT pg_temp.up(20, 'alpine/manifests/3.21') AS hub_tag \gset
SELECT * FROM pg_temp.r(1, 10, 'alpine/manifests/3.21');           -- Docker Hub (position 1) wins now
SELECT * FROM pg_temp.r(1, 10, 'library/alpine/manifests/3.21');   -- same entry both ways
SELECT * FROM pg_temp.r(1, 11, 'alpine/manifests/3.21');           -- registry 11 orders ghcr first
SELECT entry_id = :hub_tag AS hub_entry FROM containers_vreg.resolve(1, 10, 'alpine/manifests/3.21');
SELECT pg_temp.up(20, 'library/alpine/manifests/3.21') = :hub_tag AS same_row_via_library;  -- one cache key
SELECT relative_path, count(*) FROM containers_vreg.cache_entries WHERE upstream_id = 20 GROUP BY 1;
-- non-live entries do not resolve: the next upstream wins
BEGIN;
UPDATE containers_vreg.cache_entries SET status = 2 WHERE id = :hub_tag;
SELECT * FROM pg_temp.r(1, 10, 'alpine/manifests/3.21');
ROLLBACK;
-- full columns of a hit
SELECT result, entry_id = :hub_tag AS entry, upstream_id, position, relative_path,
       object_storage_key LIKE 'groups/1/upstreams/20/%' AS key_under_prefix,
       file, size, content_type, upstream_etag, digest
  FROM containers_vreg.resolve(1, 10, 'alpine/manifests/3.21');

-- resolve: unknown / foreign registry, NULLs ----------------------------------------
SELECT vreg_test.err($$SELECT * FROM containers_vreg.resolve(1, 99, 'alpine/manifests/3.21')$$);  -- P0002
SELECT vreg_test.err($$SELECT * FROM containers_vreg.resolve(1, 30, 'alpine/manifests/3.21')$$);  -- group 2's registry: P0002
SELECT vreg_test.err($$SELECT * FROM containers_vreg.resolve(2, 10, 'alpine/manifests/3.21')$$);  -- P0002
SELECT * FROM pg_temp.r(2, 30, 'alpine/manifests/3.21');   -- group 2 sees nothing of group 1
SELECT vreg_test.err($$SELECT * FROM containers_vreg.resolve(NULL, 10, 'a/manifests/b')$$);
SELECT vreg_test.err($$SELECT * FROM containers_vreg.resolve(1, NULL, 'a/manifests/b')$$);
SELECT vreg_test.err($$SELECT * FROM containers_vreg.resolve(1, 10, NULL)$$);
-- a registry without upstreams: miss
INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (1, 13, 'empty');
SELECT * FROM pg_temp.r(1, 13, 'alpine/manifests/3.21');

-- freshness of tag manifests (now() is the transaction's time) -----------------
BEGIN;
UPDATE containers_vreg.cache_entries SET upstream_checked_at = now() - interval '24 hours' WHERE id = :hub_tag;
SELECT result FROM containers_vreg.resolve(1, 10, 'alpine/manifests/3.21');   -- exactly at the boundary: hit
UPDATE containers_vreg.cache_entries SET upstream_checked_at = now() - interval '24 hours 1 microsecond' WHERE id = :hub_tag;
SELECT result FROM containers_vreg.resolve(1, 10, 'alpine/manifests/3.21');   -- 1 microsecond past: stale
ROLLBACK;
-- mark_checked: only upstream_checked_at (and updated_at) move
UPDATE containers_vreg.cache_entries SET upstream_checked_at = '2000-01-01' WHERE id = :hub_tag;
SELECT result FROM containers_vreg.resolve(1, 10, 'alpine/manifests/3.21');
SELECT row_to_json(e)::jsonb - 'upstream_checked_at' - 'updated_at' AS before
  FROM containers_vreg.cache_entries e WHERE id = :hub_tag \gset
BEGIN;
SELECT containers_vreg.mark_checked(1, :hub_tag);
SELECT upstream_checked_at = now() AS checked_now, updated_at = now() AS updated_now,
       row_to_json(e)::jsonb - 'upstream_checked_at' - 'updated_at' = :'before'::jsonb AS rest_unchanged
  FROM containers_vreg.cache_entries e WHERE id = :hub_tag;
COMMIT;
SELECT result FROM containers_vreg.resolve(1, 10, 'alpine/manifests/3.21');   -- fresh again
-- cache_validity_hours = 0: a tag is always stale, a digest never
SELECT pg_temp.up(22, 'coreos/etcd/manifests/v3.5') IS NOT NULL AS stored;
SELECT * FROM pg_temp.r(1, 12, 'coreos/etcd/manifests/v3.5');
SELECT pg_temp.up(22, 'coreos/etcd/blobs/' || :'dc') IS NOT NULL AS stored;
SELECT * FROM pg_temp.r(1, 12, 'coreos/etcd/blobs/' || :'dc');

-- digests: across names, by kind, never stale ----------------------------------------
SELECT pg_temp.up(21, 'library/alpine/blobs/' || :'da') AS blob_a \gset
SELECT * FROM pg_temp.r(1, 10, 'someone/else/blobs/' || :'da');   -- same digest under another name: hit
SELECT pg_temp.up(21, 'someone/else/blobs/' || :'da') AS blob_a2 \gset
SELECT entry_id = :blob_a2 AS exact_path_first FROM containers_vreg.resolve(1, 10, 'someone/else/blobs/' || :'da');
SELECT entry_id = :blob_a AS lowest_id_next FROM containers_vreg.resolve(1, 10, 'third/blobs/' || :'da');
SELECT * FROM pg_temp.r(1, 10, 'third/manifests/' || :'da');      -- only blobs have it: a manifest path misses
-- a tag manifest whose ETag is a digest answers manifest-by-digest, not blob
SELECT pg_temp.up(21, 'busybox/manifests/1.36', 'W/"' || :'db' || '"') AS tag_b \gset
SELECT digest = :'db' AS digest_from_weak_etag, upstream_etag FROM containers_vreg.cache_entries WHERE id = :tag_b;
SELECT * FROM pg_temp.r(1, 10, 'busybox/manifests/' || :'db');
SELECT * FROM pg_temp.r(1, 10, 'mirror/busybox/manifests/' || :'db');
SELECT * FROM pg_temp.r(1, 10, 'busybox/blobs/' || :'db');        -- blob path: miss
SELECT pg_temp.up(21, 'busybox/manifests/1.37', '"' || :'dc' || '"') AS tag_c \gset
SELECT digest = :'dc' AS digest_from_quoted_etag FROM containers_vreg.cache_entries WHERE id = :tag_c;
SELECT pg_temp.up(21, 'busybox/manifests/1.38', '"abc"') AS tag_x \gset
SELECT digest IS NULL AS no_digest_from_opaque_etag, upstream_etag FROM containers_vreg.cache_entries WHERE id = :tag_x;
-- a sha512 blob, digest-addressed manifests never go stale
SELECT pg_temp.up(21, 'big/blobs/' || :'dd') IS NOT NULL AS stored;
BEGIN;
UPDATE containers_vreg.cache_entries SET upstream_checked_at = now() - interval '10 years' WHERE upstream_id = 21;
SELECT * FROM pg_temp.r(1, 10, 'big/blobs/' || :'dd');
SELECT * FROM pg_temp.r(1, 10, 'busybox/manifests/' || :'db');
SELECT * FROM pg_temp.r(1, 10, 'busybox/manifests/1.36');            -- the tag itself: stale
ROLLBACK;
-- Docker Hub digest paths: exact library/ path preferred
SELECT pg_temp.up(20, 'nginx/blobs/' || :'dc') AS hub_blob \gset
SELECT relative_path FROM containers_vreg.cache_entries WHERE id = :hub_blob;
SELECT * FROM pg_temp.r(1, 10, 'library/nginx/blobs/' || :'dc');
-- position beats the exact path: quay (position 3) has the exact path, Docker Hub (1) the digest
SELECT * FROM pg_temp.r(1, 10, 'coreos/etcd/blobs/' || :'dc');

-- resolve writes nothing: it runs in a read-only transaction (as on a hot standby)
BEGIN READ ONLY;
SELECT result FROM containers_vreg.resolve(1, 10, 'alpine/manifests/3.21');
SELECT result FROM containers_vreg.resolve(1, 10, 'alpine/blobs/' || :'da');
COMMIT;
SELECT provolatile FROM pg_proc WHERE oid = 'containers_vreg.resolve(bigint,bigint,text)'::regprocedure;

-- upsert: ETag against the path digest, content types, updates ------------------
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err(format($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 21, 'x/blobs/%s', 1, 'f', '\x1111111111111111111111111111111111111111', NULL, '"%s"')$$, :'da', :'db'));
SELECT vreg_test.err(format($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 21, 'x/manifests/%s', 1, 'f', '\x1111111111111111111111111111111111111111', NULL, 'W/"%s"')$$, :'da', :'db'));
SELECT vreg_test.state() = :'s0' AS unchanged;
SELECT digest = :'da' AS matching_etag_ok
  FROM containers_vreg.upsert_cache_entry(1, 21, 'x/manifests/' || :'da', 1, 'f', :'sha1', NULL, '"' || :'da' || '"');
SELECT content_type FROM containers_vreg.upsert_cache_entry(1, 21, 'ct/manifests/index', 1, 'f', :'sha1', 'application/vnd.oci.image.index.v1+json');
SELECT content_type FROM containers_vreg.upsert_cache_entry(1, 21, 'ct/manifests/list', 1, 'f', :'sha1', 'application/vnd.docker.distribution.manifest.list.v2+json');
SELECT content_type FROM containers_vreg.upsert_cache_entry(1, 21, 'ct/manifests/v2', 1, 'f', :'sha1', 'application/vnd.docker.distribution.manifest.v2+json; charset=utf-8');
SELECT content_type FROM containers_vreg.upsert_cache_entry(1, 21, 'ct/manifests/oci', 1, 'f', :'sha1', 'application/vnd.oci.image.manifest.v1+json');
SELECT content_type FROM containers_vreg.upsert_cache_entry(1, 21, 'ct/manifests/oci', 1, 'f', :'sha1');  -- NULL on an update: the stored type stays
-- an update keeps id and key, moves upstream_checked_at, replaces the metadata
BEGIN;
UPDATE containers_vreg.cache_entries SET upstream_checked_at = '2000-01-01' WHERE id = :ghcr_tag;
SELECT object_storage_key AS ghcr_key FROM containers_vreg.cache_entries WHERE id = :ghcr_tag \gset
SELECT id = :ghcr_tag AS same_id, object_storage_key = :'ghcr_key' AS same_key, upstream_checked_at = now() AS checked_now,
       size, file, upstream_etag, digest = :'dc' AS etag_digest, file_md5, content_type
  FROM containers_vreg.upsert_cache_entry(1, 21, 'alpine/manifests/3.21', 2048, 'file2', :'sha1',
                                          'application/vnd.oci.image.index.v1+json', '"' || :'dc' || '"', '\x22222222222222222222222222222222');
COMMIT;
SELECT count(*) AS live_rows FROM containers_vreg.cache_entries WHERE upstream_id = 21 AND relative_path = '/alpine/manifests/3.21';

-- object-storage keys: given, kept, replaced --------------------------------------
SELECT pg_temp.up(21, 'keys/manifests/t') AS k_old \gset
SELECT object_storage_key AS k_old_key FROM containers_vreg.cache_entries WHERE id = :k_old \gset
SELECT pg_temp.up(21, 'keys/manifests/t') = :k_old AS no_key_updates_in_place;
SELECT pg_temp.up(21, 'keys/manifests/t', NULL, NULL, :'k_old_key') = :k_old AS same_key_updates_in_place;
SELECT pg_temp.up(21, 'keys/manifests/t', NULL, NULL, 'groups/1/given/one') AS k_new \gset
SELECT id = :k_new AS is_new, status, object_storage_key = :'k_old_key' AS old_key,
       object_storage_key = 'groups/1/given/one' AS given_key
  FROM containers_vreg.cache_entries WHERE relative_path = '/keys/manifests/t' ORDER BY id;
SELECT pg_temp.up(21, 'keys/manifests/t') = :k_new AS given_key_kept;
SELECT object_storage_key FROM containers_vreg.cache_entries WHERE id = :k_new;
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err($$SELECT pg_temp.up(21, 'keys/manifests/t', NULL, NULL, 'groups/2/theirs')$$);          -- 23514 other group's prefix
SELECT vreg_test.err(format($$SELECT pg_temp.up(21, 'keys/manifests/t', NULL, NULL, %L)$$, :'k_old_key')); -- 23505 key of the old entry
SELECT vreg_test.err($$SELECT pg_temp.up(21, 'keys/manifests/u', NULL, NULL, 'groups/1/given/one')$$);     -- 23505 key of another live entry
SELECT vreg_test.state() = :'s0' AS unchanged;

-- upsert: every bad input, tables unchanged ---------------------------------------------
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(NULL, 21, 'a/manifests/t', 1, 'f', '\x1111111111111111111111111111111111111111')$$);
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(1, NULL, 'a/manifests/t', 1, 'f', '\x1111111111111111111111111111111111111111')$$);
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 21, NULL, 1, 'f', '\x1111111111111111111111111111111111111111')$$);
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 21, 'a/manifests/t', NULL, 'f', '\x1111111111111111111111111111111111111111')$$);
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 21, 'a/manifests/t', 1, NULL, '\x1111111111111111111111111111111111111111')$$);
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 21, 'a/manifests/t', 1, 'f', NULL)$$);
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 99, 'a/manifests/t', 1, 'f', '\x1111111111111111111111111111111111111111')$$);  -- P0002
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 40, 'a/manifests/t', 1, 'f', '\x1111111111111111111111111111111111111111')$$);  -- group 2's upstream: P0002
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(2, 21, 'a/manifests/t', 1, 'f', '\x1111111111111111111111111111111111111111')$$);  -- P0002
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 21, 'a/manifests/t', -1, 'f', '\x1111111111111111111111111111111111111111')$$); -- 23514 size
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 21, 'a/manifests/t', 1, 'f', '\x11')$$);   -- 23514 sha1 length
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 21, 'a/manifests/t', 1, 'f', '\x1111111111111111111111111111111111111111', NULL, NULL, '\x11')$$);  -- 23514 md5 length
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 21, 'a/manifests/t', 1, '', '\x1111111111111111111111111111111111111111')$$);  -- 23514 empty file
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 21, 'a/manifests/t', 1, 'f', '\x1111111111111111111111111111111111111111', '')$$);  -- 22023 empty content type: not a media type
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 21, 'a/manifests/t', 1, 'f', '\x1111111111111111111111111111111111111111', NULL, repeat('e', 256))$$);  -- 23514 etag length
-- the same bad inputs against an existing entry (the update branch)
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 21, 'alpine/manifests/3.21', -1, 'f', '\x1111111111111111111111111111111111111111')$$);
SELECT vreg_test.err($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 21, 'alpine/manifests/3.21', 1, 'f', '\x11')$$);
SELECT vreg_test.state() = :'s0' AS unchanged;

-- mark_checked: bad input ------------------------------------------------------------
SELECT vreg_test.err($$SELECT containers_vreg.mark_checked(NULL, 1)$$);
SELECT vreg_test.err($$SELECT containers_vreg.mark_checked(1, NULL)$$);
SELECT vreg_test.err($$SELECT containers_vreg.mark_checked(1, -5)$$);                               -- P0002
SELECT vreg_test.err(format('SELECT containers_vreg.mark_checked(2, %s)', :hub_tag));               -- other group: P0002
SELECT vreg_test.err(format('SELECT containers_vreg.mark_checked(1, %s)', :k_old));                 -- not live: P0002
SELECT vreg_test.state() = :'s0' AS unchanged;

-- download counting --------------------------------------------------------------------
SELECT vreg_test.err($$SELECT containers_vreg.record_download(NULL, 1)$$);
SELECT vreg_test.err($$SELECT containers_vreg.record_download(1, NULL)$$);
SELECT count(*) AS buffered FROM containers_vreg.download_buffer;
UPDATE containers_vreg.cache_entries SET downloaded_at = '2000-01-01' WHERE id IN (:hub_tag, :blob_a);
SELECT containers_vreg.record_download(1, :hub_tag) FROM generate_series(1, 3);
BEGIN;
SELECT containers_vreg.record_download(1, :blob_a) FROM generate_series(1, 2);
SELECT now() AS last_download \gset
COMMIT;
-- an entry that is not the group's is P0002, and nothing is buffered
SELECT count(*) AS buffered FROM containers_vreg.download_buffer;
SELECT vreg_test.err($$SELECT containers_vreg.record_download(1, -1)$$);                     -- unknown entry
SELECT vreg_test.err(format('SELECT containers_vreg.record_download(2, %s)', :hub_tag));      -- another group's entry
SELECT vreg_test.err(format('SELECT containers_vreg.record_download(1, %s)', :hub_tag + 1000000));
SELECT count(*) AS buffered FROM containers_vreg.download_buffer;
-- an entry pending destruction still counts: it left the live state after
-- resolve returned it, and the client was served all the same
SELECT status AS k_old_status FROM containers_vreg.cache_entries WHERE id = :k_old;
SELECT containers_vreg.record_download(1, :k_old);
-- an entry deleted after its download was recorded (its destruction
-- finished): the flush drops that download; a new one is P0002
SELECT pg_temp.up(21, 'gone/manifests/t') AS gone \gset
SELECT containers_vreg.record_download(1, :gone);
DELETE FROM containers_vreg.cache_entries WHERE id = :gone;
SELECT vreg_test.err(format('SELECT containers_vreg.record_download(1, %s)', :gone));
SELECT count(*) AS buffered FROM containers_vreg.download_buffer;
SELECT containers_vreg.flush_downloads() AS entries_updated;
SELECT downloads_count AS k_old_downloads FROM containers_vreg.cache_entries WHERE id = :k_old;
SELECT id = :hub_tag AS hub, downloads_count, downloaded_at > '2000-01-01' AS moved
  FROM containers_vreg.cache_entries WHERE id IN (:hub_tag, :blob_a) ORDER BY id = :hub_tag;
SELECT downloaded_at = :'last_download' AS latest_download FROM containers_vreg.cache_entries WHERE id = :blob_a;
SELECT count(*) AS buffered FROM containers_vreg.download_buffer;
SELECT containers_vreg.flush_downloads() AS entries_updated;  -- nothing left
-- downloaded_at never moves backwards
UPDATE containers_vreg.cache_entries SET downloaded_at = '2999-01-01' WHERE id = :blob_a;
SELECT containers_vreg.record_download(1, :blob_a);
SELECT containers_vreg.flush_downloads() AS entries_updated;
SELECT downloads_count, downloaded_at = '2999-01-01' AS kept FROM containers_vreg.cache_entries WHERE id = :blob_a;
-- the buffer is derived state: not dumped
SELECT count(*) AS buffer_dumped FROM pg_extension e, unnest(e.extconfig) c
 WHERE e.extname = 'containers_vreg' AND c = 'containers_vreg.download_buffer'::regclass;

-- catalog: comments on every function, PUBLIC executes none of the API ---------------
SELECT p.oid::regprocedure AS function, obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented,
       p.prosecdef AS security_definer,
       EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a WHERE a.grantee = 0) AS public_execute
  FROM pg_proc p
 WHERE p.pronamespace = 'containers_vreg'::regnamespace
   AND p.proname IN ('resolve', 'upsert_cache_entry', 'mark_checked', 'record_download', 'flush_downloads',
                     'parse_request_path', 'etag_digest', 'is_docker_hub_url')
 ORDER BY p.proname;

-- The calls a registry service makes on a miss (sql/install/70_service.sql):
-- begin_fetch (lease + fresh key), release_fetch, store_cache_entry, and the
-- url change that takes an upstream's entries out of service.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();
TRUNCATE containers_vreg.fetch_leases, containers_vreg.download_buffer;
INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (5, 501, 'r');
INSERT INTO containers_vreg.upstreams (group_id, id, url) VALUES
  (5, 511, 'https://registry.example.com'), (5, 512, 'https://registry-1.docker.io');
SELECT containers_vreg.attach_upstream(5, 501, 511), containers_vreg.attach_upstream(5, 501, 512);

-- begin_fetch: one caller gets a fresh key under the group's prefix, the others NULL
SELECT containers_vreg.begin_fetch(5, 511, 'app/manifests/v1') ~ '^groups/5/upstreams/511/[0-9a-f-]{36}$' AS first_gets_key;
SELECT containers_vreg.begin_fetch(5, 511, '/app/manifests/v1') IS NULL AS second_gets_null;
-- a failed fetch gives the lease back: the next caller gets a key at once
SELECT containers_vreg.release_fetch(5, 511, 'app/manifests/v1') AS released,
       containers_vreg.release_fetch(5, 511, 'app/manifests/v1') AS nothing_left;
SELECT containers_vreg.begin_fetch(5, 511, 'app/manifests/v1') AS key1 \gset
SELECT :'key1' IS NOT NULL AS again_gets_key;
-- Docker Hub upstream: the lease is keyed as upsert stores it (library/x)
SELECT containers_vreg.begin_fetch(5, 512, 'alpine/manifests/3') IS NOT NULL AS hub_first,
       containers_vreg.begin_fetch(5, 512, 'library/alpine/manifests/3') IS NULL AS hub_same_lease;
SELECT vreg_test.err($$SELECT containers_vreg.begin_fetch(5, 599, 'app/manifests/v1')$$) AS unknown_upstream,
       vreg_test.err($$SELECT containers_vreg.begin_fetch(5, 511, 'App/manifests/v1')$$) AS bad_path,
       vreg_test.err($$SELECT containers_vreg.release_fetch(5, 511, NULL)$$) AS null_path;

-- store_cache_entry: the key from begin_fetch, the digest the upstream named
-- (no digest in the ETag), one download counted, the lease released
SELECT e.object_storage_key = :'key1' AS under_key, e.digest, e.status, e.content_type
  FROM containers_vreg.store_cache_entry(5, 511, 'app/manifests/v1', :'key1', 120,
         '\x1111111111111111111111111111111111111111', 'application/vnd.oci.image.manifest.v1+json',
         'sha256:' || repeat('1', 64), '"opaque-etag"') e;
SELECT count(*) AS downloads_buffered FROM containers_vreg.download_buffer WHERE group_id = 5;
SELECT count(*) AS leases_left FROM containers_vreg.fetch_leases WHERE group_id = 5 AND upstream_id = 511;
SELECT result, digest FROM containers_vreg.resolve(5, 501, 'app/manifests/' || 'sha256:' || repeat('1', 64));
-- a live entry exists: begin_fetch says NULL, unless it replaces that entry
SELECT id AS old_id FROM containers_vreg.cache_entries WHERE group_id = 5 AND status = 0 \gset
SELECT containers_vreg.begin_fetch(5, 511, 'app/manifests/v1') IS NULL AS live_gives_null;
SELECT containers_vreg.begin_fetch(5, 511, 'app/manifests/v1', :old_id) AS key2 \gset
-- the changed tag gets the new key; the old entry goes to the destruction queue
SELECT e.object_storage_key = :'key2' AS new_key, e.digest
  FROM containers_vreg.store_cache_entry(5, 511, 'app/manifests/v1', :'key2', 130,
         '\x2222222222222222222222222222222222222222', 'application/vnd.oci.image.manifest.v1+json',
         'sha256:' || repeat('2', 64)) e;
SELECT status, object_storage_key = :'key1' AS old_key FROM containers_vreg.cache_entries WHERE group_id = 5 AND id = :old_id;
-- digests that contradict the request or the ETag are refused; nothing stored
SELECT vreg_test.state() AS s1 \gset
SELECT vreg_test.err($$SELECT containers_vreg.store_cache_entry(5, 511, 'app/blobs/sha256:$$ || repeat('3', 64) || $$', 'groups/5/x1', 1, '\x3333333333333333333333333333333333333333', 'text/plain', 'sha256:$$ || repeat('4', 64) || $$')$$) AS path_mismatch;
SELECT vreg_test.err($$SELECT containers_vreg.store_cache_entry(5, 511, 'app/manifests/v2', 'groups/5/x2', 1, '\x3333333333333333333333333333333333333333', 'text/plain', 'sha256:$$ || repeat('4', 64) || $$', '"sha256:$$ || repeat('5', 64) || $$"')$$) AS etag_mismatch;
SELECT vreg_test.err($$SELECT containers_vreg.store_cache_entry(5, 511, 'app/manifests/v2', 'groups/5/x2', 1, '\x3333333333333333333333333333333333333333', 'text/plain', 'md5:abc')$$) AS bad_digest;
SELECT vreg_test.err($$SELECT containers_vreg.store_cache_entry(5, 511, 'app/manifests/v2', NULL, 1, '\x3333333333333333333333333333333333333333', 'text/plain', 'sha256:$$ || repeat('4', 64) || $$')$$) AS null_key;
SELECT vreg_test.state() = :'s1' AS unchanged;

-- a url change: every live entry of the upstream goes pending, leases dropped
SELECT containers_vreg.begin_fetch(5, 511, 'app/manifests/v9') IS NOT NULL AS leased;
UPDATE containers_vreg.upstreams SET name = 'renamed' WHERE group_id = 5 AND id = 511;
SELECT count(*) AS live_after_rename FROM containers_vreg.cache_entries WHERE group_id = 5 AND upstream_id = 511 AND status = 0;
UPDATE containers_vreg.upstreams SET url = 'https://mirror.example.com' WHERE group_id = 5 AND id = 511;
SELECT count(*) FILTER (WHERE status = 0) AS live_after_url_change, count(*) FILTER (WHERE status = 2) AS pending
  FROM containers_vreg.cache_entries WHERE group_id = 5 AND upstream_id = 511;
SELECT count(*) AS leases_after_url_change FROM containers_vreg.fetch_leases WHERE group_id = 5 AND upstream_id = 511;
SELECT result FROM containers_vreg.resolve(5, 501, 'app/manifests/v1');
TRUNCATE containers_vreg.fetch_leases, containers_vreg.download_buffer;
SELECT vreg_test.reset();

-- The lease is a fencing token: store_cache_entry stores only under the key of
-- a lease that still exists, and each refusal (55000) leaves the tables as
-- they were (pg_temp.st() adds the leases and the download buffer to
-- vreg_test.state()).
CREATE FUNCTION pg_temp.st() RETURNS text LANGUAGE sql AS $$
  SELECT md5(concat_ws('|', vreg_test.state(),
    (SELECT string_agg(l::text, ',' ORDER BY l.group_id, l.upstream_id, l.relative_path) FROM containers_vreg.fetch_leases l),
    (SELECT count(*) FROM containers_vreg.download_buffer)))
$$;
TRUNCATE containers_vreg.fetch_leases, containers_vreg.download_buffer;
INSERT INTO containers_vreg.upstreams (group_id, id, url) VALUES (5, 513, 'https://fence.example.com');
SELECT containers_vreg.begin_fetch(5, 513, 'app/manifests/f1') AS fkey \gset
SELECT object_storage_key = :'fkey' AS lease_has_key FROM containers_vreg.fetch_leases
 WHERE group_id = 5 AND upstream_id = 513 AND relative_path = '/app/manifests/f1';
-- the url changed during the fetch: the leases are gone, the store refused
UPDATE containers_vreg.upstreams SET url = 'https://mirror2.example.com' WHERE group_id = 5 AND id = 513;
SELECT pg_temp.st() AS s2 \gset
SELECT vreg_test.err(format($$SELECT containers_vreg.store_cache_entry(5, 513, 'app/manifests/f1', %L, 10, '\x4444444444444444444444444444444444444444', 'text/plain', 'sha256:%s')$$, :'fkey', repeat('6', 64))) AS url_changed;
SELECT pg_temp.st() = :'s2' AS unchanged;
-- an expired lease still counts until it is taken over: the store succeeds
SELECT containers_vreg.begin_fetch(5, 513, 'app/manifests/f2') AS fkey \gset
UPDATE containers_vreg.fetch_leases SET leased_until = now() - interval '1 minute'
 WHERE group_id = 5 AND upstream_id = 513 AND relative_path = '/app/manifests/f2';
SELECT e.object_storage_key = :'fkey' AS expired_lease_stores, e.status
  FROM containers_vreg.store_cache_entry(5, 513, 'app/manifests/f2', :'fkey', 10,
         '\x4444444444444444444444444444444444444444', 'text/plain', 'sha256:' || repeat('6', 64)) e;
-- taken over by another caller: the lease carries the new key, the old one is refused
SELECT containers_vreg.begin_fetch(5, 513, 'app/manifests/f3') AS fkey \gset
UPDATE containers_vreg.fetch_leases SET leased_until = now() - interval '1 minute'
 WHERE group_id = 5 AND upstream_id = 513 AND relative_path = '/app/manifests/f3';
SELECT containers_vreg.begin_fetch(5, 513, 'app/manifests/f3') AS fkey_new \gset
SELECT :'fkey_new' <> :'fkey' AS taken_over_with_new_key;
SELECT pg_temp.st() AS s3 \gset
SELECT vreg_test.err(format($$SELECT containers_vreg.store_cache_entry(5, 513, 'app/manifests/f3', %L, 10, '\x4444444444444444444444444444444444444444', 'text/plain', 'sha256:%s')$$, :'fkey', repeat('7', 64))) AS taken_over;
SELECT pg_temp.st() = :'s3' AS unchanged;
-- expired and pruned: refused
UPDATE containers_vreg.fetch_leases SET leased_until = now() - interval '1 minute'
 WHERE group_id = 5 AND upstream_id = 513 AND relative_path = '/app/manifests/f3';
SELECT containers_vreg.prune_fetch_leases() AS pruned;
SELECT pg_temp.st() AS s4 \gset
SELECT vreg_test.err(format($$SELECT containers_vreg.store_cache_entry(5, 513, 'app/manifests/f3', %L, 10, '\x4444444444444444444444444444444444444444', 'text/plain', 'sha256:%s')$$, :'fkey_new', repeat('7', 64))) AS pruned_lease;
SELECT pg_temp.st() = :'s4' AS unchanged;
-- a claim_fetch lease has no key: no store can present it
SELECT containers_vreg.claim_fetch(5, 513, 'app/manifests/f4') AS claimed;
SELECT object_storage_key IS NULL AS claim_has_no_key FROM containers_vreg.fetch_leases
 WHERE group_id = 5 AND upstream_id = 513 AND relative_path = '/app/manifests/f4';
-- a normal store: lease, store, the lease consumed, the entry live
SELECT containers_vreg.begin_fetch(5, 513, 'app/manifests/f5') AS fkey \gset
SELECT e.status, e.content_type
  FROM containers_vreg.store_cache_entry(5, 513, 'app/manifests/f5', :'fkey', 10,
         '\x4444444444444444444444444444444444444444', 'application/vnd.oci.image.index.v1+json; charset=utf-8',
         'sha256:' || repeat('8', 64)) e;
SELECT count(*) AS f5_leases FROM containers_vreg.fetch_leases
 WHERE group_id = 5 AND upstream_id = 513 AND relative_path = '/app/manifests/f5';

-- content_type and object_storage_key are checked before the lease, by both
-- store_cache_entry and upsert_cache_entry (22023), tables unchanged
SELECT containers_vreg.begin_fetch(5, 513, 'app/manifests/f6') AS fkey \gset
SELECT pg_temp.st() AS s5 \gset
SELECT t.what, vreg_test.err(format($$SELECT containers_vreg.store_cache_entry(5, 513, 'app/manifests/f6', %L, 10, '\x4444444444444444444444444444444444444444', %L, 'sha256:%s')$$, t.key, t.ctype, repeat('9', 64))) AS store,
       vreg_test.err(format($$SELECT containers_vreg.upsert_cache_entry(5, 513, 'app/manifests/f6', 10, 'f', '\x4444444444444444444444444444444444444444', %L, NULL, NULL, %L)$$, t.ctype, t.key)) AS upsert
  FROM (VALUES ('ctype CR LF', :'fkey', E'text/plain\r\nX-Injected: 1'),
               ('ctype LF in parameter', :'fkey', E'text/plain; a=b\nc'),
               ('ctype no slash', :'fkey', 'textplain'),
               ('ctype empty subtype', :'fkey', 'text/'),
               ('ctype tab', :'fkey', E'text/plain;\tq=1'),
               ('key ..', 'groups/5/upstreams/513/../../4/x', 'text/plain'),
               ('key //', 'groups/5//x', 'text/plain'),
               ('key trailing /', 'groups/5/x/', 'text/plain'),
               ('key space', 'groups/5/a b', 'text/plain'),
               ('key other group', 'groups/4/x', 'text/plain')) AS t(what, key, ctype);
SELECT pg_temp.st() = :'s5' AS unchanged;
-- a valid type with parameters, through upsert_cache_entry
SELECT content_type FROM containers_vreg.upsert_cache_entry(5, 513, 'app/manifests/f7', 10, 'f',
  '\x4444444444444444444444444444444444444444', 'application/vnd.docker.distribution.manifest.v2+json;q=0.9; charset="utf-8"');
TRUNCATE containers_vreg.fetch_leases, containers_vreg.download_buffer;

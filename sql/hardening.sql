-- Regressions from the adversarial review of 0.1.0 (fixed in 0.2.0).
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();
INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (90, 900, 'r');
INSERT INTO containers_vreg.upstreams (group_id, id, url) VALUES (90, 901, 'https://big.example.com');
SELECT containers_vreg.attach_upstream(90, 900, 901);

-- 1. A size is at most 1 TiB, so usage sums cannot overflow bigint.
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err($$SELECT containers_vreg.upsert_cache_entry(90, 901, 'a/manifests/1', 9223372036854775807, 'f', decode(repeat('01', 20), 'hex'))$$);
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  VALUES (90, 901, '/a/manifests/1', 1099511627777, 'f', 'groups/90/k', decode(repeat('01', 20), 'hex'))$$);
SELECT vreg_test.state() = :'s0' AS unchanged;
SELECT size FROM containers_vreg.upsert_cache_entry(90, 901, 'a/manifests/1', 1099511627776, 'f', decode(repeat('01', 20), 'hex'));
SELECT size FROM containers_vreg.upsert_cache_entry(90, 901, 'a/manifests/2', 1099511627776, 'f', decode(repeat('01', 20), 'hex'));
SELECT live_entries, live_bytes FROM containers_vreg.group_usage(90) WHERE upstream_id IS NULL;
SELECT containers_vreg.compact_usage() >= 0 AS compacted;

-- 2. An entry that left the live state never becomes live again.
SELECT containers_vreg.mark_for_destruction(90, id) FROM containers_vreg.cache_entries
 WHERE group_id = 90 AND relative_path = '/a/manifests/1';
SELECT vreg_test.state() AS s1 \gset
SELECT vreg_test.err($$UPDATE containers_vreg.cache_entries SET status = 0 WHERE group_id = 90 AND relative_path = '/a/manifests/1'$$);
SELECT count(*) AS claimed FROM containers_vreg.claim_for_destruction(10);
SELECT vreg_test.err($$UPDATE containers_vreg.cache_entries SET status = 0 WHERE group_id = 90 AND status = 1$$);
SELECT vreg_test.err($$UPDATE containers_vreg.cache_entries SET status = 3 WHERE group_id = 90 AND status = 1$$) AS processing_to_error;
SELECT vreg_test.err($$UPDATE containers_vreg.cache_entries SET status = 0 WHERE group_id = 90 AND status = 3$$);
SELECT result FROM containers_vreg.resolve(90, 900, 'a/manifests/1');

-- 3. Object-storage keys: only characters every store takes literally.
SELECT vreg_test.state() AS s2 \gset
SELECT k, vreg_test.err(format($$SELECT containers_vreg.upsert_cache_entry(90, 901, 'a/manifests/3', 1, 'f', decode(repeat('01', 20), 'hex'), NULL, NULL, NULL, %L)$$, k)) AS result
  FROM (VALUES ('groups/90/%2e%2e/91/x'), ('groups/90/a?b#c'), ('groups/90/x/'), ('groups/90/ｘ'),
               ('groups/90/' || chr(8238) || 'x'), ('groups/90/a b'), ('groups/90/../91/x'),
               ('groups/90//x'), ('groups/91/x'), ('groups/90/')) AS t(k);
SELECT vreg_test.state() = :'s2' AS unchanged;
SELECT object_storage_key FROM containers_vreg.upsert_cache_entry(90, 901, 'a/manifests/3', 1, 'f',
  decode(repeat('01', 20), 'hex'), NULL, NULL, NULL, 'groups/90/upstreams/901/A-z_0.9!*''()/x');

-- 4. Under session_replication_role = replica (a superuser's bulk load, a
--    logical-replication subscriber) plaintext credentials are still sealed.
SET session_replication_role = replica;
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
  VALUES (90, 902, 'https://replica.example.com', '{"username": "r", "password": "ReplicaPW"}');
RESET session_replication_role;
SELECT credentials ?& array['v', 'kid', 'nonce', 'ct'] AS sealed, credentials::text LIKE '%ReplicaPW%' AS plaintext,
       octet_length(credentials_fingerprint) AS fingerprint_bytes
  FROM containers_vreg.upstreams WHERE id = 902;
SELECT containers_vreg.upstream_credentials(90, 902)->>'password' AS opens;

-- 5. An UPDATE that supplies an envelope gets its fingerprint computed again,
--    so the uniqueness rule compares what is stored.
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
  VALUES (90, 903, 'https://replica.example.com', '{"username": "s", "password": "OtherPW"}');
SELECT vreg_test.err($$UPDATE containers_vreg.upstreams SET credentials = '{"v":2,"kid":1,"nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","ct":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}' WHERE id = 903$$);
--    An envelope of format 1 (bound to no URL) is refused by an UPDATE before
--    anything is opened.
SELECT vreg_test.err($$UPDATE containers_vreg.upstreams SET credentials = '{"v":1,"kid":1,"nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","ct":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}' WHERE id = 903$$);
SELECT vreg_test.err($$UPDATE containers_vreg.upstreams SET credentials = '{"username": "r", "password": "ReplicaPW"}' WHERE id = 903$$) AS duplicate;

-- 6. Leases: at most 365 days, however the interval is written.
SELECT l, vreg_test.err(format('SELECT count(*) FROM containers_vreg.claim_for_destruction(1, %L)', l)) AS result
  FROM (VALUES ('1 year'), ('365 days'), ('8760 hours'), ('366 days'), ('13 months')) AS t(l);

-- Regressions found by the libFuzzer targets of test/fuzz/,
-- replayed where the input reaches SQL. Each case names its corpus file.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();

-- fuzz_oci_path, corpus/oci_path/regression-hub-library-prefix: a one-component
-- name of 248..255 characters was accepted and normalized for Docker Hub to
-- library/<name>, a name of more than 255 characters that the parser itself
-- refuses (so a stored relative_path could never be asked for again).
SELECT repeat('a', 247) AS n247, repeat('a', 248) AS n248, repeat('a', 255) AS n255 \gset
-- not Docker Hub: 255 characters stay valid, unchanged
SELECT char_length(relative_path) AS len, kind
  FROM containers_vreg.parse_request_path(:'n255' || '/manifests/x', false);
-- Docker Hub: 247 + 8 = 255 is the longest one-component name
SELECT char_length(relative_path) AS len, left(relative_path, 9) AS head
  FROM containers_vreg.parse_request_path(:'n247' || '/manifests/x', true);
SELECT vreg_test.err(format($$SELECT * FROM containers_vreg.parse_request_path(%L, true)$$,
                            :'n248' || '/manifests/x'));
SELECT vreg_test.err(format($$SELECT * FROM containers_vreg.parse_request_path(%L, true)$$,
                            '/' || :'n255' || '/blobs/sha256:' || repeat('0', 64)));
-- the normalized form parses again to itself
SELECT p2.relative_path = p1.relative_path AS idempotent
  FROM containers_vreg.parse_request_path(:'n247' || '/manifests/x', true) p1,
       containers_vreg.parse_request_path(p1.relative_path, true) p2;
-- two components are never prefixed: 255 characters stay valid under Docker Hub
SELECT char_length(relative_path) AS len
  FROM containers_vreg.parse_request_path('a/' || repeat('b', 253) || '/manifests/x', true);

-- upsert_cache_entry on a Docker Hub upstream refuses it, tables unchanged;
-- resolve finds nothing (a miss, not an error) for the same path
INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (1, 10, 'hub');
INSERT INTO containers_vreg.upstreams (group_id, id, url) VALUES
  (1, 20, 'https://registry-1.docker.io'), (1, 21, 'https://ghcr.io');
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position)
  VALUES (1, 10, 20, 1);
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err(format($$SELECT * FROM containers_vreg.upsert_cache_entry(1, 20, %L, 1, 'f', '\x1111111111111111111111111111111111111111')$$,
                            :'n248' || '/manifests/x'));
SELECT vreg_test.state() = :'s0' AS unchanged;
SELECT result FROM containers_vreg.resolve(1, 10, :'n248' || '/manifests/x');
-- another upstream stores the 248-character name as it is
SELECT char_length(relative_path) AS len
  FROM containers_vreg.upsert_cache_entry(1, 21, :'n248' || '/manifests/x', 1, 'f',
                                          '\x1111111111111111111111111111111111111111');
SELECT vreg_test.reset();

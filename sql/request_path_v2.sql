-- A request path that still carries the API's /v2/ prefix is refused with
-- 22023 and a hint, by every function that takes a path, and leaves the
-- tables unchanged: taken as a name, v2/library/alpine would build a second
-- cache of every image. Names with v2 anywhere else still work.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();
TRUNCATE containers_vreg.fetch_leases, containers_vreg.download_buffer;

INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (6, 60, 'r');
INSERT INTO containers_vreg.upstreams (group_id, id, url) VALUES
  (6, 61, 'https://ghcr.io'), (6, 62, 'https://registry-1.docker.io');
SELECT containers_vreg.attach_upstream(6, 60, 61), containers_vreg.attach_upstream(6, 60, 62);
SELECT 'sha256:' || repeat('a', 64) AS da, '\x' || repeat('11', 20) AS sha1 \gset

-- SQLSTATE, message and hint of a failing statement
CREATE FUNCTION pg_temp.err_hint(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  hint text;
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
  RETURN SQLSTATE || ': ' || SQLERRM || ' | hint: ' || hint;
END $$;

-- the parser: with and without the leading slash, tags, digests, blobs --------------
SELECT pg_temp.err_hint($$SELECT * FROM containers_vreg.parse_request_path('/v2/library/alpine/manifests/latest')$$);
SELECT p, hub, vreg_test.err(format('SELECT * FROM containers_vreg.parse_request_path(%L, %L)', p, hub)) AS result
  FROM (VALUES ('/v2/library/alpine/manifests/latest', false),
               ('v2/library/alpine/manifests/latest', false),
               ('/v2/alpine/manifests/latest', true),
               ('v2/alpine/manifests/latest', true),
               ('/v2/library/alpine/manifests/' || :'da', false),
               ('/v2/library/alpine/blobs/' || :'da', false),
               ('v2/v2/manifests/latest', false)) AS t(p, hub);

-- names with v2 elsewhere are ordinary names -------------------------------------------
SELECT p, hub, x.relative_path, x.kind
  FROM (VALUES ('library/v2/manifests/latest', false),
               ('/library/v2/app/manifests/latest', false),
               ('v2x/app/manifests/latest', false),
               ('v2.1/app/manifests/latest', false),
               ('v2-beta/app/blobs/' || :'da', false),
               ('av2/app/manifests/latest', false),
               ('acme/v2/manifests/v2', false),
               -- one component: "v2" cannot be the prefix of anything, so it is a name
               ('v2/manifests/latest', false),
               ('/v2/manifests/latest', false),
               ('v2/manifests/latest', true)) AS t(p, hub)
  CROSS JOIN LATERAL containers_vreg.parse_request_path(p, hub) x;

-- every function that takes a path refuses it; nothing changes --------------------------
SELECT vreg_test.state() AS s0 \gset
SELECT f, vreg_test.err(stmt) AS result
  FROM (VALUES
    ('resolve', $$SELECT * FROM containers_vreg.resolve(6, 60, '/v2/library/alpine/manifests/latest')$$),
    ('upsert_cache_entry', format($$SELECT * FROM containers_vreg.upsert_cache_entry(6, 61, 'v2/library/alpine/manifests/latest', 1, 'f', %L)$$, :'sha1')),
    ('claim_fetch', $$SELECT containers_vreg.claim_fetch(6, 61, '/v2/library/alpine/manifests/latest')$$),
    ('begin_fetch', $$SELECT containers_vreg.begin_fetch(6, 62, '/v2/alpine/manifests/latest')$$),
    ('release_fetch', $$SELECT containers_vreg.release_fetch(6, 61, 'v2/library/alpine/manifests/latest')$$),
    ('store_cache_entry', format($$SELECT * FROM containers_vreg.store_cache_entry(6, 61, '/v2/library/alpine/blobs/%s', 'groups/6/k', 1, %L, 'text/plain', %L)$$, :'da', :'sha1', :'da'))
  ) AS t(f, stmt);
-- the hint reaches the caller through the SQL functions too
SELECT pg_temp.err_hint(format($$SELECT * FROM containers_vreg.upsert_cache_entry(6, 61, 'v2/library/alpine/manifests/latest', 1, 'f', %L)$$, :'sha1'));
SELECT vreg_test.state() = :'s0' AS unchanged,
       (SELECT count(*) FROM containers_vreg.fetch_leases) AS leases,
       (SELECT count(*) FROM containers_vreg.download_buffer) AS buffered;

-- a repository named library/v2 goes all the way: lease, store, resolve ---------------
SELECT containers_vreg.begin_fetch(6, 61, 'library/v2/manifests/latest') AS v2key \gset
SELECT :'v2key' LIKE 'groups/6/upstreams/61/%' AS leased;
SELECT relative_path, digest = :'da' AS digest
  FROM containers_vreg.store_cache_entry(6, 61, 'library/v2/manifests/latest', :'v2key', 1, :'sha1',
                                         'application/vnd.oci.image.manifest.v1+json', :'da');
SELECT result, upstream_id, relative_path FROM containers_vreg.resolve(6, 60, '/library/v2/manifests/latest');
-- and a one-component v2 on Docker Hub is library/v2 there
SELECT relative_path FROM containers_vreg.upsert_cache_entry(6, 62, 'v2/manifests/latest', 1, 'f', :'sha1');
SELECT result, upstream_id, relative_path FROM containers_vreg.resolve(6, 60, 'v2/manifests/latest');

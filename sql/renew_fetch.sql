-- renew_fetch: a long fetch keeps its lease (and so its fencing token) alive;
-- a lease that is gone is reported, never recreated.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();
TRUNCATE containers_vreg.fetch_leases, containers_vreg.download_buffer;
INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (6, 601, 'r');
INSERT INTO containers_vreg.upstreams (group_id, id, url) VALUES
  (6, 611, 'https://registry.example.com'), (6, 612, 'https://registry-1.docker.io');
CREATE FUNCTION pg_temp.st() RETURNS text LANGUAGE sql AS $$
  SELECT md5(concat_ws('|', vreg_test.state(),
    (SELECT string_agg(l::text, ',' ORDER BY l.group_id, l.upstream_id, l.relative_path) FROM containers_vreg.fetch_leases l)))
$$;

-- renew moves leased_until past its old value, by the lease given
SELECT containers_vreg.begin_fetch(6, 611, 'app/blobs/sha256:' || repeat('a', 64), lease => '2 seconds') AS k1 \gset
SELECT leased_until AS until1 FROM containers_vreg.fetch_leases
 WHERE group_id = 6 AND upstream_id = 611 AND relative_path = '/app/blobs/sha256:' || repeat('a', 64) \gset
SELECT containers_vreg.renew_fetch(6, 611, 'app/blobs/sha256:' || repeat('a', 64), :'k1', '10 minutes') AS renewed;
SELECT leased_until > :'until1'::timestamptz AS moved,
       leased_until > clock_timestamp() + interval '9 minutes' AS by_the_lease,
       object_storage_key = :'k1' AS same_key
  FROM containers_vreg.fetch_leases
 WHERE group_id = 6 AND upstream_id = 611 AND relative_path = '/app/blobs/sha256:' || repeat('a', 64);
-- the default lease; the path as begin_fetch canonicalizes it (Docker Hub's library/)
SELECT containers_vreg.begin_fetch(6, 612, 'alpine/manifests/3') AS k2 \gset
SELECT containers_vreg.renew_fetch(6, 612, 'library/alpine/manifests/3', :'k2') AS hub_renewed;
-- another key (not the holder) finds nothing, and changes nothing
SELECT pg_temp.st() AS s0 \gset
SELECT containers_vreg.renew_fetch(6, 611, 'app/blobs/sha256:' || repeat('a', 64), 'groups/6/other') AS wrong_key;
SELECT pg_temp.st() = :'s0' AS unchanged;

-- a renewed lease keeps the expired-lease takeover away
SELECT containers_vreg.begin_fetch(6, 611, 'app/manifests/t', lease => '1 second') AS k3 \gset
SELECT containers_vreg.renew_fetch(6, 611, 'app/manifests/t', :'k3', '1 hour') AS renewed;
SELECT pg_sleep(1.1);
SELECT containers_vreg.begin_fetch(6, 611, 'app/manifests/t') IS NULL AS no_takeover;

-- taken over: the old holder's renew is false, the new holder's lease untouched
SELECT containers_vreg.begin_fetch(6, 611, 'app/manifests/o') AS k4 \gset
UPDATE containers_vreg.fetch_leases SET leased_until = now() - interval '1 minute'
 WHERE group_id = 6 AND upstream_id = 611 AND relative_path = '/app/manifests/o';
SELECT containers_vreg.begin_fetch(6, 611, 'app/manifests/o') AS k5 \gset
SELECT leased_until AS until5 FROM containers_vreg.fetch_leases
 WHERE group_id = 6 AND upstream_id = 611 AND relative_path = '/app/manifests/o' \gset
SELECT containers_vreg.renew_fetch(6, 611, 'app/manifests/o', :'k4') AS old_holder;
SELECT leased_until = :'until5'::timestamptz AS untouched, object_storage_key = :'k5' AS new_key
  FROM containers_vreg.fetch_leases
 WHERE group_id = 6 AND upstream_id = 611 AND relative_path = '/app/manifests/o';
SELECT containers_vreg.renew_fetch(6, 611, 'app/manifests/o', :'k5') AS new_holder;

-- released: false, and no lease is recreated
SELECT containers_vreg.begin_fetch(6, 611, 'app/manifests/r') AS k6 \gset
SELECT containers_vreg.release_fetch(6, 611, 'app/manifests/r') AS released;
SELECT containers_vreg.renew_fetch(6, 611, 'app/manifests/r', :'k6') AS after_release;
SELECT count(*) AS r_leases FROM containers_vreg.fetch_leases
 WHERE group_id = 6 AND upstream_id = 611 AND relative_path = '/app/manifests/r';

-- pruned: false
SELECT containers_vreg.begin_fetch(6, 611, 'app/manifests/p') AS k7 \gset
UPDATE containers_vreg.fetch_leases SET leased_until = now() - interval '1 minute'
 WHERE group_id = 6 AND upstream_id = 611 AND relative_path = '/app/manifests/p';
SELECT containers_vreg.prune_fetch_leases() > 0 AS pruned;
SELECT containers_vreg.renew_fetch(6, 611, 'app/manifests/p', :'k7') AS after_prune;

-- the url changed during the fetch: every lease of the upstream is gone
SELECT containers_vreg.begin_fetch(6, 611, 'app/manifests/u') AS k8 \gset
UPDATE containers_vreg.upstreams SET url = 'https://mirror.example.com' WHERE group_id = 6 AND id = 611;
SELECT containers_vreg.renew_fetch(6, 611, 'app/manifests/u', :'k8') AS after_url_change,
       containers_vreg.renew_fetch(6, 611, 'app/manifests/t', :'k3') AS other_after_url_change;

-- bad input: the SQLSTATE, tables unchanged
SELECT containers_vreg.begin_fetch(6, 612, 'alpine/manifests/b') AS kb \gset
SELECT pg_temp.st() AS s1 \gset
SELECT t.what, vreg_test.err(t.stmt) AS error
  FROM (VALUES
    ('NULL group_id', format($$SELECT containers_vreg.renew_fetch(NULL, 612, 'alpine/manifests/b', %L)$$, :'kb')),
    ('NULL upstream_id', format($$SELECT containers_vreg.renew_fetch(6, NULL, 'alpine/manifests/b', %L)$$, :'kb')),
    ('NULL path', format($$SELECT containers_vreg.renew_fetch(6, 612, NULL, %L)$$, :'kb')),
    ('NULL key', $$SELECT containers_vreg.renew_fetch(6, 612, 'alpine/manifests/b', NULL)$$),
    ('NULL lease', format($$SELECT containers_vreg.renew_fetch(6, 612, 'alpine/manifests/b', %L, NULL)$$, :'kb')),
    ('zero lease', format($$SELECT containers_vreg.renew_fetch(6, 612, 'alpine/manifests/b', %L, '0 seconds')$$, :'kb')),
    ('negative lease', format($$SELECT containers_vreg.renew_fetch(6, 612, 'alpine/manifests/b', %L, '-1 second')$$, :'kb')),
    ('lease over 365 days', format($$SELECT containers_vreg.renew_fetch(6, 612, 'alpine/manifests/b', %L, '366 days')$$, :'kb')),
    ('bad path', format($$SELECT containers_vreg.renew_fetch(6, 612, 'Alpine/manifests/b', %L)$$, :'kb')),
    ('unknown upstream', format($$SELECT containers_vreg.renew_fetch(6, 699, 'alpine/manifests/b', %L)$$, :'kb')),
    ('upstream of another group', format($$SELECT containers_vreg.renew_fetch(5, 612, 'alpine/manifests/b', %L)$$, :'kb'))
  ) AS t(what, stmt);
SELECT pg_temp.st() = :'s1' AS unchanged;

-- not executable by PUBLIC
SELECT has_function_privilege('public', 'containers_vreg.renew_fetch(bigint,bigint,text,text,interval)', 'EXECUTE') AS public_can_execute;

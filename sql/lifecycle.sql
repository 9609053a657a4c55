-- Cache lifecycle (docs/design.md): destruction queue, upstream deletion, cleanup
-- policy, fetch leases, usage counters. Every refused call asserts its
-- SQLSTATE and that the tables are unchanged. The id sequences are restarted
-- below, so messages naming an id are stable; rows are shown by relative_path.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();
TRUNCATE containers_vreg.fetch_leases;
-- fixed ids, so that error messages naming an entry are stable
ALTER SEQUENCE containers_vreg.cache_entries_id_seq RESTART WITH 1001;
ALTER SEQUENCE containers_vreg.upstreams_id_seq RESTART WITH 101;
ALTER SEQUENCE containers_vreg.registries_id_seq RESTART WITH 11;

CREATE SCHEMA lc;
-- A cache entry as the request path would store it (plain INSERT).
CREATE FUNCTION lc.entry(g bigint, up bigint, path text, size bigint DEFAULT 100,
                         status smallint DEFAULT 0, downloaded timestamptz DEFAULT now())
RETURNS bigint LANGUAGE sql AS $$
  INSERT INTO containers_vreg.cache_entries
    (group_id, upstream_id, relative_path, status, size, file, object_storage_key, file_sha1, downloaded_at)
  VALUES (g, up, path, status, size, 'file' || path,
          containers_vreg.object_storage_prefix(g) || gen_random_uuid(), decode(repeat('ab', 20), 'hex'),
          downloaded)
  RETURNING id
$$;
CREATE FUNCTION lc.id(g bigint, path text, st smallint DEFAULT 0) RETURNS bigint LANGUAGE sql AS $$
  SELECT id FROM containers_vreg.cache_entries WHERE group_id = g AND relative_path = path AND status = st
$$;
-- status of every entry of a group, by path
CREATE VIEW lc.entries AS
  SELECT e.group_id, u.name AS upstream, e.relative_path, e.status, e.size
    FROM containers_vreg.cache_entries e
    LEFT JOIN containers_vreg.upstreams u ON u.group_id = e.group_id AND u.id = e.upstream_id
   ORDER BY e.group_id, e.relative_path, e.status;
-- group_usage computed the slow way, to compare with the counters
CREATE FUNCTION lc.usage_mismatches() RETURNS bigint LANGUAGE sql AS $$
  WITH groups AS (SELECT DISTINCT group_id FROM containers_vreg.cache_entries
                  UNION SELECT DISTINCT group_id FROM containers_vreg.upstreams),
  counted AS (
    SELECT g.group_id, x.* FROM groups g, containers_vreg.group_usage(g.group_id) x),
  truth AS (
    SELECT c.group_id, c.upstream_id,
           count(*) FILTER (WHERE status = 0) AS live_entries,
           coalesce(sum(size) FILTER (WHERE status = 0), 0) AS live_bytes,
           count(*) FILTER (WHERE status <> 0) AS pending_entries,
           coalesce(sum(size) FILTER (WHERE status <> 0), 0) AS pending_bytes
      FROM containers_vreg.cache_entries c GROUP BY GROUPING SETS ((c.group_id, c.upstream_id), (c.group_id))
    UNION ALL
    SELECT u.group_id, u.id, 0, 0, 0, 0 FROM containers_vreg.upstreams u
     WHERE NOT EXISTS (SELECT FROM containers_vreg.cache_entries c WHERE c.group_id = u.group_id AND c.upstream_id = u.id)
    UNION ALL
    SELECT u.group_id, NULL, 0, 0, 0, 0 FROM containers_vreg.upstreams u
     WHERE NOT EXISTS (SELECT FROM containers_vreg.cache_entries c WHERE c.group_id = u.group_id)
     GROUP BY u.group_id)
  SELECT count(*) FROM ((TABLE counted EXCEPT ALL TABLE truth) UNION ALL (TABLE truth EXCEPT ALL TABLE counted)) d
$$;

-- fixtures: group 1 has registries r1 (u1, u2) and r2 (u2, u3); group 2 has u9
INSERT INTO containers_vreg.registries (group_id, name) VALUES (1, 'r1'), (1, 'r2');
INSERT INTO containers_vreg.upstreams (group_id, url, name) VALUES
  (1, 'https://registry-1.docker.io', 'u1'), (1, 'https://ghcr.io', 'u2'),
  (1, 'https://quay.io', 'u3'), (2, 'https://quay.io', 'u9');
SELECT id AS r1 FROM containers_vreg.registries WHERE group_id = 1 AND name = 'r1' \gset
SELECT id AS r2 FROM containers_vreg.registries WHERE group_id = 1 AND name = 'r2' \gset
SELECT id AS u1 FROM containers_vreg.upstreams WHERE group_id = 1 AND name = 'u1' \gset
SELECT id AS u2 FROM containers_vreg.upstreams WHERE group_id = 1 AND name = 'u2' \gset
SELECT id AS u3 FROM containers_vreg.upstreams WHERE group_id = 1 AND name = 'u3' \gset
SELECT id AS u9 FROM containers_vreg.upstreams WHERE group_id = 2 AND name = 'u9' \gset
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES
  (1, :r1, :u1, 1), (1, :r1, :u2, 2), (1, :r2, :u2, 1), (1, :r2, :u3, 2);

-- object_storage_key lies under the group's own prefix, direct INSERT included
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  VALUES (1, 1, '/a/blobs/x', 1, 'f', 'groups/2/x', decode(repeat('ab', 20), 'hex'))$$); -- another group's prefix: 23514
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  VALUES (1, 1, '/a/blobs/x', 1, 'f', 'groups/11/x', decode(repeat('ab', 20), 'hex'))$$); -- groups/1 is a prefix of groups/11 as text, not as a key: 23514
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  VALUES (1, 1, '/a/blobs/x', 1, 'f', 'x/groups/1/x', decode(repeat('ab', 20), 'hex'))$$); -- 23514
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  VALUES (1, 1, '/a/blobs/x', 1, 'f', 'groups/1/', decode(repeat('ab', 20), 'hex'))$$); -- the prefix alone: 23514
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  VALUES (1, 1, '/a/blobs/x', 1, 'f', 'groups/1/../2/x', decode(repeat('ab', 20), 'hex'))$$); -- dot segment escaping the prefix: 23514
SELECT vreg_test.state() = :'s0' AS unchanged;

-- entries: u1 has a manifest and two blobs, u2 two blobs, u3 one; group 2 one
SELECT lc.entry(1, :u1, '/library/alpine/manifests/3.21', 1000) IS NOT NULL AS ok,
       lc.entry(1, :u1, '/library/alpine/blobs/sha256:aa', 2000) IS NOT NULL AS ok,
       lc.entry(1, :u1, '/library/alpine/blobs/sha256:bb', 3000) IS NOT NULL AS ok,
       lc.entry(1, :u2, '/org/app/blobs/sha256:cc', 400) IS NOT NULL AS ok,
       lc.entry(1, :u2, '/org/app/blobs/sha256:dd', 500) IS NOT NULL AS ok,
       lc.entry(1, :u3, '/q/x/blobs/sha256:ee', 60) IS NOT NULL AS ok,
       lc.entry(2, :u9, '/library/alpine/manifests/3.21', 7) IS NOT NULL AS ok;
-- straight into the group's partition: the same CHECK
SELECT tableoid::regclass AS part1 FROM containers_vreg.cache_entries WHERE group_id = 1 LIMIT 1 \gset
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err(format($$INSERT INTO %s (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  VALUES (1, 1, '/a/blobs/x', 1, 'f', 'groups/2/x', decode(repeat('ab', 20), 'hex'))$$, :'part1')); -- 23514
SELECT vreg_test.state() = :'s0' AS unchanged;
SELECT * FROM containers_vreg.group_usage(1);  -- upstreams in id order, then the total
SELECT * FROM containers_vreg.group_usage(2) WHERE upstream_id IS NULL;
SELECT * FROM containers_vreg.group_usage(3);  -- a group without rows: zero total
SELECT lc.usage_mismatches();

-- mark_for_destruction ------------------------------------------------------------
SELECT lc.id(1, '/library/alpine/manifests/3.21') AS m1 \gset
SELECT object_storage_key AS m1key FROM containers_vreg.cache_entries WHERE group_id = 1 AND id = :m1 \gset
SELECT containers_vreg.mark_for_destruction(1, :m1);          -- true: live -> pending
SELECT status FROM containers_vreg.cache_entries WHERE group_id = 1 AND id = :m1;  -- 2
SELECT containers_vreg.mark_for_destruction(1, :m1);          -- false: not live any more
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err(format('SELECT containers_vreg.mark_for_destruction(2, %s)', :m1));  -- another group's entry: P0002
SELECT vreg_test.err('SELECT containers_vreg.mark_for_destruction(1, -1)');              -- P0002
SELECT vreg_test.err('SELECT containers_vreg.mark_for_destruction(NULL, 1)');            -- 22004
SELECT vreg_test.err('SELECT containers_vreg.mark_for_destruction(1, NULL)');            -- 22004
SELECT vreg_test.state() = :'s0' AS unchanged;
-- a later pull of the same path stores a new live entry with a new key; the
-- old key cannot be reused while the old row exists
SELECT vreg_test.err(format($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  VALUES (1, %s, '/library/alpine/manifests/3.21', 1, 'f', %L, decode(repeat('ab', 20), 'hex'))$$, :u1, :'m1key')); -- 23505
SELECT lc.entry(1, :u1, '/library/alpine/manifests/3.21', 1100) <> :m1 AS new_entry;
SELECT count(*) AS live_rows_for_path FROM containers_vreg.cache_entries
 WHERE group_id = 1 AND upstream_id = :u1 AND relative_path = '/library/alpine/manifests/3.21' AND status = 0;
SELECT vreg_test.err(format('SELECT lc.entry(1, %s, ''/library/alpine/manifests/3.21'')', :u1)); -- a second live row: 23505
SELECT * FROM lc.entries WHERE group_id = 1 AND relative_path LIKE '%manifests%';
SELECT lc.usage_mismatches();

-- purge_upstream -------------------------------------------------------------------
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err(format('SELECT containers_vreg.purge_upstream(2, %s)', :u1));  -- another group's upstream: P0002
SELECT vreg_test.err('SELECT containers_vreg.purge_upstream(1, -1)');              -- P0002
SELECT vreg_test.err('SELECT containers_vreg.purge_upstream(1, NULL)');            -- 22004
SELECT vreg_test.err(format('SELECT containers_vreg.purge_upstream(NULL, %s)', :u1)); -- 22004
SELECT vreg_test.state() = :'s0' AS unchanged;
SELECT containers_vreg.purge_upstream(1, :u1);   -- 3: the new manifest and two blobs
SELECT containers_vreg.purge_upstream(1, :u1);   -- 0: nothing live left
SELECT * FROM lc.entries;
SELECT lc.usage_mismatches();

-- purge_registry: only upstreams linked to no other registry -----------------------
SELECT lc.entry(1, :u1, '/library/alpine/blobs/sha256:aa', 2000) IS NOT NULL AS repulled;
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err(format('SELECT containers_vreg.purge_registry(2, %s)', :r1));  -- another group's registry: P0002
SELECT vreg_test.err('SELECT containers_vreg.purge_registry(1, -1)');              -- P0002
SELECT vreg_test.err('SELECT containers_vreg.purge_registry(1, NULL)');            -- 22004
SELECT vreg_test.state() = :'s0' AS unchanged;
SELECT containers_vreg.purge_registry(1, :r1);   -- 1: u1's repulled blob; u2 is shared with r2
SELECT * FROM lc.entries WHERE status = 0;
SELECT containers_vreg.purge_registry(1, :r2);   -- 1: u3's blob; u2 is still shared with r1
SELECT * FROM lc.entries WHERE status = 0;
SELECT lc.usage_mismatches();

-- claim_for_destruction -----------------------------------------------------------
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err('SELECT * FROM containers_vreg.claim_for_destruction(0)');            -- 22023
SELECT vreg_test.err('SELECT * FROM containers_vreg.claim_for_destruction(-5)');           -- 22023
SELECT vreg_test.err('SELECT * FROM containers_vreg.claim_for_destruction(NULL)');         -- 22004
SELECT vreg_test.err($$SELECT * FROM containers_vreg.claim_for_destruction(1, '0')$$);     -- 22023
SELECT vreg_test.err($$SELECT * FROM containers_vreg.claim_for_destruction(1, '-1 hour')$$); -- 22023
SELECT vreg_test.err('SELECT * FROM containers_vreg.claim_for_destruction(1, NULL)');      -- 22004
SELECT vreg_test.state() = :'s0' AS unchanged;
SELECT count(*) AS pending FROM containers_vreg.cache_entries WHERE status = 2;  -- 6
CREATE TABLE lc.claimed AS SELECT * FROM containers_vreg.claim_for_destruction(3);
SELECT count(*) AS claimed FROM lc.claimed;  -- 3, at most batch
SELECT count(*) AS claimed_now_processing FROM lc.claimed c
  JOIN containers_vreg.cache_entries e ON e.group_id = c.group_id AND e.id = c.entry_id WHERE e.status = 1;
SELECT bool_and(c.object_storage_key = e.object_storage_key AND c.file = e.file AND c.size = e.size) AS columns_match
  FROM lc.claimed c JOIN containers_vreg.cache_entries e ON e.group_id = c.group_id AND e.id = c.entry_id;
INSERT INTO lc.claimed SELECT * FROM containers_vreg.claim_for_destruction(100);
SELECT count(*) AS claimed, count(DISTINCT (group_id, entry_id)) AS distinct_claimed FROM lc.claimed;  -- 6, 6
SELECT count(*) AS claimed_again FROM containers_vreg.claim_for_destruction(100);  -- 0: claims hold for the lease
-- no live entry was claimed, and no claimed key is used by a live entry
SELECT count(*) AS live_claimed FROM lc.claimed c JOIN containers_vreg.cache_entries e
    ON e.group_id = c.group_id AND e.id = c.entry_id WHERE e.status = 0;
SELECT count(*) AS live_keys_returned FROM lc.claimed c JOIN containers_vreg.cache_entries e
    ON e.group_id = c.group_id AND e.object_storage_key = c.object_storage_key WHERE e.status = 0;
SELECT bool_and(starts_with(object_storage_key, containers_vreg.object_storage_prefix(group_id))) AS keys_in_own_prefix
  FROM lc.claimed;
SELECT group_id, status, count(*) FROM containers_vreg.cache_entries GROUP BY 1, 2 ORDER BY 1, 2;
SELECT lc.usage_mismatches();

-- a claim expires after its lease: a dead worker's entries are claimed again.
-- updated_at is the claim time (row_guard sets it on every update); move it
-- back with triggers off, as if the claim had been made long ago.
SELECT lc.id(1, '/library/alpine/blobs/sha256:bb', 1::smallint) AS bb, lc.id(1, '/q/x/blobs/sha256:ee', 1::smallint) AS ee,
       lc.id(1, '/org/app/blobs/sha256:cc') AS live_cc \gset
SET session_replication_role = replica;
UPDATE containers_vreg.cache_entries SET updated_at = now() - interval '2 hours' WHERE group_id = 1 AND id = :bb;
UPDATE containers_vreg.cache_entries SET updated_at = now() - interval '20 minutes' WHERE group_id = 1 AND id = :ee;
RESET session_replication_role;
SELECT e.relative_path FROM containers_vreg.claim_for_destruction(100) c
  JOIN containers_vreg.cache_entries e ON e.group_id = c.group_id AND e.id = c.entry_id;  -- bb only (1 hour lease)
SELECT count(*) AS claimed FROM containers_vreg.claim_for_destruction(100);  -- 0: bb's claim is fresh again
SELECT e.relative_path FROM containers_vreg.claim_for_destruction(100, '10 minutes') c
  JOIN containers_vreg.cache_entries e ON e.group_id = c.group_id AND e.id = c.entry_id;  -- ee, with a shorter lease
SELECT status, updated_at = now() AS claim_time_moved FROM containers_vreg.cache_entries WHERE group_id = 1 AND id IN (:bb, :ee);

-- finish_destruction / fail_destruction / retry_destruction --------------------------
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err(format('SELECT containers_vreg.finish_destruction(1, %s)', :live_cc));  -- live: 55000
SELECT vreg_test.err(format('SELECT containers_vreg.fail_destruction(1, %s)', :live_cc));    -- live: 55000
SELECT vreg_test.err('SELECT containers_vreg.finish_destruction(NULL, 1)');                  -- 22004
SELECT vreg_test.err('SELECT containers_vreg.fail_destruction(1, NULL)');                    -- 22004
SELECT vreg_test.err('SELECT containers_vreg.retry_destruction(NULL)');                      -- 22004
SELECT vreg_test.state() = :'s0' AS unchanged;
SELECT containers_vreg.finish_destruction(1, :bb);   -- true: row deleted
SELECT count(*) AS bb_rows FROM containers_vreg.cache_entries WHERE group_id = 1 AND id = :bb;  -- 0
SELECT containers_vreg.finish_destruction(1, :bb);   -- false: already finished
SELECT containers_vreg.fail_destruction(1, :bb);     -- false: already finished
SELECT containers_vreg.finish_destruction(2, :ee);   -- false: not an entry of group 2
SELECT containers_vreg.fail_destruction(1, :ee);     -- true: processing -> error
SELECT status FROM containers_vreg.cache_entries WHERE group_id = 1 AND id = :ee;  -- 3
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err(format('SELECT containers_vreg.finish_destruction(1, %s)', :ee));  -- error state: 55000
SELECT vreg_test.err(format('SELECT containers_vreg.fail_destruction(1, %s)', :ee));    -- 55000
SELECT vreg_test.state() = :'s0' AS unchanged;
-- error entries are not claimed, even long after
SET session_replication_role = replica;
UPDATE containers_vreg.cache_entries SET updated_at = now() - interval '2 days' WHERE group_id = 1 AND id = :ee;
RESET session_replication_role;
SELECT count(*) AS claimed FROM containers_vreg.claim_for_destruction(100);  -- 0
SELECT containers_vreg.retry_destruction(2);   -- 0: group 2 has no error entries
SELECT containers_vreg.retry_destruction(1);   -- 1
SELECT containers_vreg.retry_destruction(1);   -- 0
SELECT status FROM containers_vreg.cache_entries WHERE group_id = 1 AND id = :ee;  -- 2
SELECT containers_vreg.mark_for_destruction(1, :ee);  -- false: pending is not live
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err(format('SELECT containers_vreg.finish_destruction(1, %s)', :ee));  -- pending: 55000
SELECT vreg_test.state() = :'s0' AS unchanged;
SELECT e.relative_path FROM containers_vreg.claim_for_destruction(100) c
  JOIN containers_vreg.cache_entries e ON e.group_id = c.group_id AND e.id = c.entry_id;  -- ee
SELECT containers_vreg.finish_destruction(1, :ee);   -- true
SELECT * FROM lc.entries;
SELECT lc.usage_mismatches();

-- deleting an upstream marks its live entries in the same transaction --------------
SELECT lc.entry(1, :u3, '/q/x/blobs/sha256:ee', 60) IS NOT NULL AS repulled,
       lc.entry(1, :u3, '/q/x/manifests/1', 5) IS NOT NULL AS ok;
BEGIN;
DELETE FROM containers_vreg.upstreams WHERE group_id = 1 AND id = :u3;
SELECT relative_path, status FROM containers_vreg.cache_entries WHERE group_id = 1 AND upstream_id = :u3 ORDER BY 1;
ROLLBACK;
SELECT relative_path, status FROM containers_vreg.cache_entries WHERE group_id = 1 AND upstream_id = :u3 ORDER BY 1;
DELETE FROM containers_vreg.upstreams WHERE group_id = 1 AND id = :u3;
SELECT relative_path, status FROM containers_vreg.cache_entries WHERE group_id = 1 AND upstream_id = :u3 ORDER BY 1;
-- the deleted upstream keeps a usage row while its entries await destruction
SELECT upstream_id = :u3 AS deleted_upstream, live_entries, live_bytes, pending_entries, pending_bytes
  FROM containers_vreg.group_usage(1) WHERE upstream_id = :u3;
SELECT lc.usage_mismatches();

-- mark_unused -----------------------------------------------------------------------
SELECT vreg_test.reset();   -- also empties the usage counters (TRUNCATE trigger)
SELECT count(*) AS usage_rows_after_truncate FROM containers_vreg.usage_deltas;
INSERT INTO containers_vreg.upstreams (group_id, url, name) VALUES (1, 'https://registry-1.docker.io', 'u1'), (2, 'https://quay.io', 'u9');
SELECT id AS u1 FROM containers_vreg.upstreams WHERE group_id = 1 AND name = 'u1' \gset
SELECT id AS u9 FROM containers_vreg.upstreams WHERE group_id = 2 AND name = 'u9' \gset
SELECT count(lc.entry(1, :u1, '/old/blobs/' || i, 10 * i, 0::smallint, now() - make_interval(days => 30 + i))) AS old30
  FROM generate_series(1, 5) i;
SELECT lc.entry(1, :u1, '/edge/blobs/7d', 1000, 0::smallint, now() - interval '7 days' + interval '1 hour') IS NOT NULL AS ok,
       lc.entry(1, :u1, '/recent/blobs/1', 1000, 0::smallint, now() - interval '6 days') IS NOT NULL AS ok,
       lc.entry(1, :u1, '/pending/blobs/1', 1000, 2::smallint, now() - interval '300 days') IS NOT NULL AS ok,
       lc.entry(2, :u9, '/old/blobs/1', 1000, 0::smallint, now() - interval '300 days') IS NOT NULL AS ok;
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err('SELECT * FROM containers_vreg.mark_unused(1, 0)');        -- 22023
SELECT vreg_test.err('SELECT * FROM containers_vreg.mark_unused(1, 366)');      -- 22023
SELECT vreg_test.err('SELECT * FROM containers_vreg.mark_unused(1, -1)');       -- 22023
SELECT vreg_test.err('SELECT * FROM containers_vreg.mark_unused(1, 7, 0)');     -- 22023
SELECT vreg_test.err('SELECT * FROM containers_vreg.mark_unused(1, NULL)');     -- 22004
SELECT vreg_test.err('SELECT * FROM containers_vreg.mark_unused(NULL, 7)');     -- 22004
SELECT vreg_test.err('SELECT * FROM containers_vreg.mark_unused(1, 7, NULL)');  -- 22004
SELECT vreg_test.state() = :'s0' AS unchanged;
-- a download recorded (record_download) but not yet folded in by
-- flush_downloads counts: old/2 was downloaded just now
SELECT containers_vreg.record_download(1, lc.id(1, '/old/blobs/2'));
-- a buffered download older than the cutoff keeps nothing (the flush job was down for 100 days)
INSERT INTO containers_vreg.download_buffer (group_id, entry_id, downloaded_at)
  VALUES (1, lc.id(1, '/old/blobs/3'), now() - interval '100 days');
SELECT count(*) AS buffered FROM containers_vreg.download_buffer;   -- 2
-- the probe for buffered downloads has an index
SELECT pg_get_indexdef(i.indexrelid) AS buffer_index FROM pg_index i
 WHERE i.indrelid = 'containers_vreg.download_buffer'::regclass;
SELECT * FROM containers_vreg.mark_unused(1, 7, 2);    -- 2 entries: the two oldest (old/5, old/4)
SELECT relative_path FROM containers_vreg.cache_entries WHERE status = 2 AND group_id = 1 AND relative_path LIKE '/old/%' ORDER BY 1;
SELECT * FROM containers_vreg.mark_unused(1, 7, 2);    -- old/3, old/1 (old/2 was downloaded today)
SELECT * FROM containers_vreg.mark_unused(1, 7, 2);    -- 0, 0: done
-- exactly at the cutoff is kept (now() is the transaction's time)
BEGIN;
UPDATE containers_vreg.cache_entries SET downloaded_at = now() - interval '7 days' WHERE group_id = 1 AND relative_path = '/edge/blobs/7d';
SELECT * FROM containers_vreg.mark_unused(1, 7);       -- 0, 0
UPDATE containers_vreg.cache_entries SET downloaded_at = now() - interval '7 days 1 microsecond' WHERE group_id = 1 AND relative_path = '/edge/blobs/7d';
SELECT * FROM containers_vreg.mark_unused(1, 7);       -- 1, 1000
ROLLBACK;
SELECT * FROM containers_vreg.mark_unused(1, 1);       -- 2 entries: edge (7 days) and recent (6 days)
SELECT * FROM containers_vreg.mark_unused(1, 1);       -- old/2 was downloaded just now (buffered): 0
SELECT * FROM lc.entries;                              -- group 2 untouched
-- once flushed, the download is in cache_entries and still keeps old/2
SELECT containers_vreg.flush_downloads();              -- 2 entries (old/2, and old/3 which is pending)
SELECT count(*) AS buffered FROM containers_vreg.download_buffer;   -- 0
SELECT downloads_count, downloaded_at > now() - interval '1 hour' AS just_now
  FROM containers_vreg.cache_entries WHERE group_id = 1 AND relative_path = '/old/blobs/2';
SELECT * FROM containers_vreg.mark_unused(1, 1);       -- 0, 0
-- not downloaded for 40 days: old/2 goes
UPDATE containers_vreg.cache_entries SET downloaded_at = now() - interval '40 days'
 WHERE group_id = 1 AND relative_path = '/old/blobs/2';
SELECT * FROM containers_vreg.mark_unused(1, 1);       -- 1, 20
SELECT lc.usage_mismatches();

-- claim_fetch -------------------------------------------------------------------------
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err(format($$SELECT containers_vreg.claim_fetch(2, %s, '/a/manifests/1')$$, :u1));  -- another group's upstream: P0002
SELECT vreg_test.err($$SELECT containers_vreg.claim_fetch(1, -1, '/a/manifests/1')$$);               -- P0002
-- bad paths: 22023, the same error (from the same C parser) as upsert_cache_entry and resolve
SELECT vreg_test.err(format($$SELECT containers_vreg.claim_fetch(1, %s, '')$$, :u1));                 -- 22023
SELECT vreg_test.err(format($$SELECT containers_vreg.claim_fetch(1, %s, '/')$$, :u1));                -- 22023
SELECT vreg_test.err(format($$SELECT containers_vreg.claim_fetch(1, %s, '/' || repeat('a', 1024))$$, :u1)); -- 22023
SELECT vreg_test.err(format($$SELECT containers_vreg.claim_fetch(1, %s, 'Alpine/manifests/3')$$, :u1));   -- 22023: uppercase name
SELECT vreg_test.err(format($$SELECT containers_vreg.claim_fetch(1, %s, 'alpine/tags/list')$$, :u1));     -- 22023
SELECT vreg_test.err(format($$SELECT containers_vreg.claim_fetch(1, %s, 'alpine/blobs/sha256:abc')$$, :u1)); -- 22023
SELECT vreg_test.err(format($$SELECT containers_vreg.upsert_cache_entry(1, %s, 'Alpine/manifests/3', 1, 'f', '\x%s')$$, :u1, repeat('ab', 20)));  -- the same 22023 from the upsert
SELECT vreg_test.err(format($$SELECT containers_vreg.claim_fetch(1, %s, '/a/manifests/1', '0')$$, :u1));   -- 22023
SELECT vreg_test.err(format($$SELECT containers_vreg.claim_fetch(1, %s, NULL)$$, :u1));               -- 22004
SELECT vreg_test.err($$SELECT containers_vreg.claim_fetch(1, NULL, '/a/manifests/1')$$);              -- 22004
SELECT vreg_test.err(format($$SELECT containers_vreg.claim_fetch(1, %s, '/a/manifests/1', NULL)$$, :u1)); -- 22004
SELECT vreg_test.state() = :'s0' AS unchanged;
SELECT count(*) AS leases FROM containers_vreg.fetch_leases;  -- 0
-- u1 is on Docker Hub: a/manifests/1 is leased as /library/a/manifests/1, the path
-- upsert_cache_entry stores; u9 (quay.io) keeps the name as given
SELECT containers_vreg.claim_fetch(1, :u1, '/a/manifests/1');   -- true: first caller fetches
SELECT containers_vreg.claim_fetch(1, :u1, '/a/manifests/1');   -- false: lease held
SELECT containers_vreg.claim_fetch(1, :u1, 'a/manifests/1');    -- false: same path without the leading slash
SELECT containers_vreg.claim_fetch(1, :u1, 'library/a/manifests/1');  -- false: the same image on Docker Hub
SELECT containers_vreg.claim_fetch(2, :u9, '/a/manifests/1');   -- true: another upstream
SELECT containers_vreg.claim_fetch(1, :u1, '/a/manifests/2', '1 hour');  -- true: another path
SELECT group_id, relative_path, leased_until > now() + interval '50 minutes' AS long_lease
  FROM containers_vreg.fetch_leases ORDER BY 1, 2;
-- the lease expires
UPDATE containers_vreg.fetch_leases SET leased_until = now() - interval '1 second'
 WHERE group_id = 1 AND relative_path = '/library/a/manifests/1';
SELECT containers_vreg.claim_fetch(1, :u1, '/a/manifests/1');   -- true: expired lease taken over
SELECT containers_vreg.claim_fetch(1, :u1, '/a/manifests/1');   -- false
-- storing the live entry with upsert_cache_entry releases the lease; with the entry present nobody fetches
SELECT relative_path FROM containers_vreg.upsert_cache_entry(1, :u1, 'a/manifests/1', 100, 'f', decode(repeat('ab', 20), 'hex'));
SELECT count(*) AS lease_left FROM containers_vreg.fetch_leases WHERE group_id = 1 AND relative_path = '/library/a/manifests/1'; -- 0
SELECT containers_vreg.claim_fetch(1, :u1, '/a/manifests/1');   -- false: a live entry exists (resolve again)
SELECT containers_vreg.claim_fetch(1, :u1, 'library/a/manifests/1');  -- false
SELECT count(*) AS lease_left FROM containers_vreg.fetch_leases WHERE group_id = 1 AND relative_path = '/library/a/manifests/1'; -- 0
-- the Docker Hub rule in the other direction: claimed as alpine, stored as library/alpine
SELECT containers_vreg.claim_fetch(1, :u1, 'alpine/manifests/3');   -- true
SELECT relative_path FROM containers_vreg.fetch_leases WHERE group_id = 1 AND relative_path LIKE '%alpine%';
SELECT relative_path FROM containers_vreg.upsert_cache_entry(1, :u1, 'library/alpine/manifests/3', 100, 'f', decode(repeat('ab', 20), 'hex'));
SELECT count(*) AS lease_left FROM containers_vreg.fetch_leases WHERE group_id = 1 AND relative_path LIKE '%alpine%'; -- 0
SELECT containers_vreg.claim_fetch(1, :u1, 'alpine/manifests/3');   -- false: stored
-- a non-live insert does not release a lease
SELECT lc.entry(1, :u1, '/library/a/manifests/2', 1, 2::smallint) IS NOT NULL AS stored_pending;
SELECT count(*) AS lease_left FROM containers_vreg.fetch_leases WHERE group_id = 1 AND relative_path = '/library/a/manifests/2'; -- 1
-- prune_fetch_leases removes expired leases only
UPDATE containers_vreg.fetch_leases SET leased_until = now() - interval '1 second' WHERE group_id = 2;
SELECT containers_vreg.prune_fetch_leases();   -- 1
SELECT group_id, relative_path FROM containers_vreg.fetch_leases ORDER BY 1, 2;

-- usage counters: compaction keeps the totals; rebuild recomputes them --------------
SELECT lc.usage_mismatches();
SELECT count(*) > 2 AS many_delta_rows FROM containers_vreg.usage_deltas WHERE group_id = 1;
SELECT * FROM containers_vreg.group_usage(1) WHERE upstream_id IS NULL;
SELECT containers_vreg.mark_for_destruction(2, lc.id(2, '/old/blobs/1'));  -- a second delta row for group 2
SELECT containers_vreg.compact_usage(1) > 0 AS compacted;
SELECT count(*) AS delta_rows_group1 FROM containers_vreg.usage_deltas WHERE group_id = 1;  -- 1: one upstream
SELECT count(*) AS group2_delta_rows FROM containers_vreg.usage_deltas WHERE group_id = 2;  -- 2: not compacted
SELECT * FROM containers_vreg.group_usage(1) WHERE upstream_id IS NULL;
SELECT containers_vreg.compact_usage(1);   -- 0: nothing left to fold
SELECT containers_vreg.compact_usage() > 0 AS compacted_all;
SELECT lc.usage_mismatches();
-- lost counters (a restore with triggers disabled) are rebuilt
DELETE FROM containers_vreg.usage_deltas;
SELECT lc.usage_mismatches() > 0 AS counters_lost;
SELECT containers_vreg.rebuild_usage(1);   -- 1 group
SELECT containers_vreg.rebuild_usage();    -- 2 groups
SELECT containers_vreg.rebuild_usage();    -- idempotent
SELECT lc.usage_mismatches();
SELECT * FROM containers_vreg.group_usage(1) WHERE upstream_id IS NULL;
SELECT vreg_test.err('SELECT * FROM containers_vreg.group_usage(NULL)');  -- 22004
-- updates that do not change status, size or upstream write no delta
SELECT count(*) AS d0 FROM containers_vreg.usage_deltas \gset
UPDATE containers_vreg.cache_entries SET downloads_count = downloads_count + 1, downloaded_at = now();
SELECT count(*) - :d0 AS new_delta_rows FROM containers_vreg.usage_deltas;  -- 0
-- derived and ephemeral tables are not dumped
SELECT c.relname FROM pg_extension x, unnest(x.extconfig) t(oid) JOIN pg_class c ON c.oid = t.oid
 WHERE x.extname = 'containers_vreg' AND c.relname IN ('usage_deltas', 'fetch_leases');

-- nothing of the lifecycle API is executable by PUBLIC ---------------------------------
SELECT p.oid::regprocedure AS public_executable
  FROM pg_proc p
 WHERE p.pronamespace = 'containers_vreg'::regnamespace
   AND p.proname IN ('mark_for_destruction', 'purge_upstream', 'purge_registry', 'claim_for_destruction',
                     'finish_destruction', 'fail_destruction', 'retry_destruction', 'mark_unused',
                     'claim_fetch', 'prune_fetch_leases', 'group_usage', 'compact_usage', 'rebuild_usage',
                     'lifecycle_check_not_null', 'lifecycle_check_lease', 'upstreams_mark_entries',
                     'cache_entries_release_fetch_lease', 'cache_entries_track_usage', 'cache_entries_truncate_usage')
   AND (p.proacl IS NULL OR EXISTS (SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0));
SELECT count(*) AS documented FROM pg_proc p
 WHERE p.pronamespace = 'containers_vreg'::regnamespace
   AND p.proname IN ('mark_for_destruction', 'purge_upstream', 'purge_registry', 'claim_for_destruction',
                     'finish_destruction', 'fail_destruction', 'retry_destruction', 'mark_unused',
                     'claim_fetch', 'prune_fetch_leases', 'group_usage', 'compact_usage', 'rebuild_usage')
   AND obj_description(p.oid, 'pg_proc') IS NOT NULL;   -- 13

DROP SCHEMA lc CASCADE;
SELECT vreg_test.reset();

-- Which index each key statement on cache_entries uses (EXPLAIN (COSTS OFF)).
-- The live-path index leads with the path and the live-digest index with the
-- digest (group_id first in both, upstream_id last), so one descent finds
-- the candidates of every upstream. Uniqueness, the ON CONFLICT arbiter, the
-- planned fallback query of resolve, the request-path and lifecycle
-- statements must still find the right index. The data: 8 groups that share
-- one partition (as most groups do, with many groups per partition), 5
-- upstreams each, 2000 entries per group.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();

-- 8 groups of one partition, the first of them is g
CREATE TEMP TABLE ig AS
SELECT g FROM generate_series(1, 400) g
 WHERE containers_vreg.cache_entry_partition(g) = containers_vreg.cache_entry_partition(1)
 ORDER BY g LIMIT 8;
SELECT min(g) AS g, count(*) AS groups FROM ig \gset
SELECT :groups AS groups_in_one_partition;
INSERT INTO containers_vreg.upstreams (group_id, id, url)
SELECT g, g * 10 + k, 'https://mirror' || k || '.example.com' FROM ig, generate_series(1, 5) k;
INSERT INTO containers_vreg.registries (group_id, id, name) SELECT g, g * 10, 'r' FROM ig;
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position)
SELECT g, g * 10, g * 10 + k, k FROM ig, generate_series(1, 5) k;
INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, status, size, file,
                                           object_storage_key, file_sha1, digest, downloaded_at)
SELECT g, g * 10 + 1 + i % 5,
       '/img' || i % 97 || CASE WHEN i % 10 = 0 THEN '/manifests/v' || i ELSE '/blobs/sha256:' || d END,
       CASE WHEN i % 50 = 0 THEN 2 ELSE 0 END, 1, 'f', 'groups/' || g || '/e' || i,
       '\x1111111111111111111111111111111111111111',
       CASE WHEN i % 10 <> 0 THEN 'sha256:' || d END, now() - make_interval(days => i % 90)
  FROM ig, generate_series(1, 2000) i,
       LATERAL (SELECT encode(sha256(int8send(g * 100000 + i / 3)), 'hex') AS d) x;
ANALYZE containers_vreg.cache_entries;

-- Plans with the constants below: the group's one partition.
SELECT containers_vreg.cache_entry_partition(:g) AS part \gset
SELECT '/img7/blobs/sha256:' || encode(sha256(int8send(:g * 100000 + 7)), 'hex') AS blob,
       'sha256:' || encode(sha256(int8send(:g * 100000 + 7)), 'hex') AS digest \gset
CREATE FUNCTION pg_temp.plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
    -- partition names differ with the group picked; the index name says it all
    RETURN NEXT regexp_replace(line, 'cache_entries_\d+', 'cache_entries_NN', 'g');
  END LOOP;
END $$;

-- the index definitions
SELECT indexrelid::regclass AS index, pg_get_indexdef(indexrelid) AS definition
  FROM pg_index WHERE indrelid = 'containers_vreg.cache_entries'::regclass ORDER BY 1::text;

-- resolve's planned fallback query (request_path.c, its entry probe per link):
-- the live-path index for a tag, the live-digest index for a digest
SELECT pg_temp.plan(format($q$
  SELECT e.id FROM containers_vreg.registry_upstreams ru
   CROSS JOIN LATERAL (SELECT e.id FROM containers_vreg.cache_entries e
                        WHERE e.group_id = %1$s AND e.upstream_id = ru.upstream_id
                          AND e.status = 0 AND e.relative_path = '/img7/manifests/v10') e
   WHERE ru.group_id = %1$s AND ru.registry_id = %2$s ORDER BY ru.position LIMIT 1$q$, :g, :g * 10));
SELECT pg_temp.plan(format($q$
  SELECT e.id FROM containers_vreg.registry_upstreams ru
   CROSS JOIN LATERAL (SELECT e.id FROM containers_vreg.cache_entries e
                        WHERE e.group_id = %1$s AND e.upstream_id = ru.upstream_id
                          AND e.status = 0 AND e.digest = %3$L
                          AND (e.relative_path ~~ ('%%/blobs/' || %3$L)) = true
                        ORDER BY (e.relative_path = %4$L) DESC, e.id LIMIT 1) e
   WHERE ru.group_id = %1$s AND ru.registry_id = %2$s ORDER BY ru.position LIMIT 1$q$,
  :g, :g * 10, :'digest', :'blob'));

-- the bare probes of the benchmark: one descent for every upstream
SELECT pg_temp.plan(format('SELECT id FROM containers_vreg.cache_entries WHERE group_id = %s AND relative_path = %L AND status = 0', :g, :'blob'));
SELECT pg_temp.plan(format('SELECT id FROM containers_vreg.cache_entries WHERE group_id = %s AND digest = %L AND status = 0', :g, :'digest'));

-- upsert_cache_entry: the arbiter of ON CONFLICT, and the replacement of a
-- live entry that has another key
SELECT pg_temp.plan(format($q$
  INSERT INTO containers_vreg.cache_entries AS e (group_id, upstream_id, relative_path, size, file,
                                                  object_storage_key, file_sha1)
  VALUES (%s, %s, '/x/manifests/1', 1, 'f', 'groups/%s/x', '\x1111111111111111111111111111111111111111')
  ON CONFLICT (group_id, upstream_id, relative_path) WHERE status = 0
  DO UPDATE SET size = EXCLUDED.size$q$, :g, :g * 10 + 1, :g));
SELECT pg_temp.plan(format($q$
  UPDATE containers_vreg.cache_entries e SET status = 2
   WHERE e.group_id = %s AND e.upstream_id = %s AND e.relative_path = %L AND e.status = 0
     AND e.object_storage_key <> 'k'$q$, :g, :g * 10 + 3, :'blob'));
-- uniqueness: a second live entry of (upstream, path) is refused by the new key
SELECT vreg_test.err(format($q$
  INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file,
                                             object_storage_key, file_sha1)
  SELECT group_id, upstream_id, relative_path, 1, 'f', object_storage_key || 'b', file_sha1
    FROM containers_vreg.cache_entries WHERE group_id = %s AND status = 0 LIMIT 1$q$, :g));

-- claim_fetch looks for the live entry of (upstream, path)
SELECT pg_temp.plan(format($q$
  SELECT FROM containers_vreg.cache_entries c
   WHERE c.group_id = %s AND c.upstream_id = %s AND c.relative_path = %L AND c.status = 0$q$,
  :g, :g * 10 + 3, :'blob'));
-- mark_checked, mark_for_destruction, end_destruction: the primary key
SELECT pg_temp.plan(format('UPDATE containers_vreg.cache_entries e SET upstream_checked_at = now() WHERE e.group_id = %s AND e.id = 5 AND e.status = 0', :g));
-- record_download: one probe of the primary key, no row lock
SELECT pg_temp.plan(format($q$
  INSERT INTO containers_vreg.download_buffer (group_id, entry_id, downloaded_at)
  SELECT %1$s, 5, now()
   WHERE EXISTS (SELECT FROM containers_vreg.cache_entries e WHERE e.group_id = %1$s AND e.id = 5)$q$, :g));
-- purge_upstream and the delete of an upstream: the group's live entries,
-- filtered by upstream (no index leads with upstream_id any more; these are
-- rare bulk statements that then update every row they find)
SELECT pg_temp.plan(format('UPDATE containers_vreg.cache_entries e SET status = 2 WHERE e.group_id = %s AND e.upstream_id = %s AND e.status = 0', :g, :g * 10 + 2));
-- mark_unused: the group's live entries by last download
SELECT pg_temp.plan(format($q$
  SELECT c.id FROM containers_vreg.cache_entries c
   WHERE c.group_id = %s AND c.status = 0 AND c.downloaded_at < now() - interval '80 days'
   ORDER BY c.downloaded_at LIMIT 100 FOR UPDATE OF c SKIP LOCKED$q$, :g));
-- claim_for_destruction: the destruction queue, oldest first (shown on the
-- partition that has rows: the others are empty here)
SELECT pg_temp.plan(format($q$
  SELECT c.group_id, c.id FROM %s c
   WHERE c.status = 2 OR (c.status = 1 AND c.updated_at < now() - interval '1 hour')
   ORDER BY c.updated_at LIMIT 10 FOR UPDATE SKIP LOCKED$q$, :'part'));
-- unreferenced_objects: one probe of the unique (group_id, object_storage_key)
-- index per key asked about
SELECT pg_temp.plan(format($q$
  SELECT DISTINCT k.key COLLATE pg_catalog."C"
    FROM pg_catalog.unnest(ARRAY['groups/%1$s/e17', 'groups/%1$s/gone']) AS k(key)
   WHERE NOT EXISTS (SELECT FROM containers_vreg.cache_entries e
                      WHERE e.group_id = %1$s
                        AND e.object_storage_key = k.key COLLATE pg_catalog."C")
   ORDER BY 1$q$, :g));
SELECT * FROM containers_vreg.unreferenced_objects(:g, ARRAY['groups/' || :g || '/e17', 'groups/' || :g || '/gone']) AS unreferenced;

SELECT vreg_test.reset();

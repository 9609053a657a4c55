-- unreferenced_objects: which of a group's object-storage keys no cache entry
-- names, whatever the entry's status; the sweep of a registry service deletes
-- those (after an age that keeps in-flight fetches safe). Keys of another
-- group, malformed keys, NULLs and oversized batches are refused.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();
INSERT INTO containers_vreg.upstreams (group_id, id, url) VALUES
  (7, 71, 'https://registry.example.com'), (8, 81, 'https://registry.example.com');
-- one entry in each status of group 7, and a live entry of group 8
INSERT INTO containers_vreg.cache_entries (group_id, id, upstream_id, relative_path, status, size, file,
                                           object_storage_key, file_sha1)
VALUES (7, 1, 71, '/a/manifests/live', 0, 1, 'f', 'groups/7/upstreams/71/live', '\x1111111111111111111111111111111111111111'),
       (7, 2, 71, '/a/manifests/pending', 2, 1, 'f', 'groups/7/upstreams/71/pending', '\x1111111111111111111111111111111111111111'),
       (7, 3, 71, '/a/manifests/processing', 1, 1, 'f', 'groups/7/upstreams/71/processing', '\x1111111111111111111111111111111111111111'),
       (7, 4, 71, '/a/manifests/error', 3, 1, 'f', 'groups/7/upstreams/71/error', '\x1111111111111111111111111111111111111111'),
       (8, 5, 81, '/a/manifests/live', 0, 1, 'f', 'groups/8/upstreams/81/live', '\x1111111111111111111111111111111111111111');

-- only the unknown keys come back, each once, in byte order; a key that
-- group 8 uses is unknown to group 7 when it lies under group 7's prefix
SELECT * FROM containers_vreg.unreferenced_objects(7, ARRAY[
  'groups/7/upstreams/71/live', 'groups/7/upstreams/71/pending', 'groups/7/upstreams/71/processing',
  'groups/7/upstreams/71/error', 'groups/7/upstreams/71/unknown-b', 'groups/7/upstreams/71/unknown-a',
  'groups/7/upstreams/71/unknown-b', 'groups/7/upstreams/81/live']) AS unreferenced;
SELECT * FROM containers_vreg.unreferenced_objects(8, ARRAY['groups/8/upstreams/81/live', 'groups/8/upstreams/81/x']) AS unreferenced;
SELECT count(*) AS none_for_empty FROM containers_vreg.unreferenced_objects(7, '{}');
-- a group with no entries at all: every key is unreferenced
SELECT * FROM containers_vreg.unreferenced_objects(9, ARRAY['groups/9/upstreams/1/x']) AS unreferenced;

-- refused, with the tables unchanged
SELECT vreg_test.state() AS s0 \gset
SELECT what, vreg_test.err(stmt) AS result FROM (VALUES
  ('NULL group_id', $$SELECT containers_vreg.unreferenced_objects(NULL, ARRAY['groups/7/x'])$$),
  ('NULL array', $$SELECT containers_vreg.unreferenced_objects(7, NULL)$$),
  ('NULL element', $$SELECT containers_vreg.unreferenced_objects(7, ARRAY['groups/7/x', NULL])$$),
  ('another group''s key', $$SELECT containers_vreg.unreferenced_objects(7, ARRAY['groups/7/x', 'groups/8/upstreams/81/live'])$$),
  ('a prefix of the group''s prefix', $$SELECT containers_vreg.unreferenced_objects(7, ARRAY['groups/77/x'])$$),
  ('the prefix alone', $$SELECT containers_vreg.unreferenced_objects(7, ARRAY['groups/7/'])$$),
  ('a .. segment', $$SELECT containers_vreg.unreferenced_objects(7, ARRAY['groups/7/../8/upstreams/81/live'])$$),
  ('an empty segment', $$SELECT containers_vreg.unreferenced_objects(7, ARRAY['groups/7//x'])$$),
  ('a trailing slash', $$SELECT containers_vreg.unreferenced_objects(7, ARRAY['groups/7/x/'])$$),
  ('a space', $$SELECT containers_vreg.unreferenced_objects(7, ARRAY['groups/7/a b'])$$),
  ('1025 bytes', $$SELECT containers_vreg.unreferenced_objects(7, ARRAY['groups/7/' || repeat('k', 1016)])$$),
  ('1024 bytes', $$SELECT containers_vreg.unreferenced_objects(7, ARRAY['groups/7/' || repeat('k', 1015)])$$),
  ('10001 keys', $$SELECT containers_vreg.unreferenced_objects(7, array(SELECT 'groups/7/k' || i FROM generate_series(1, 10001) i))$$),
  ('10000 keys', $$SELECT containers_vreg.unreferenced_objects(7, array(SELECT 'groups/7/k' || i FROM generate_series(1, 10000) i))$$)
) t(what, stmt);
SELECT vreg_test.state() = :'s0' AS tables_unchanged;

-- a read: STABLE, SECURITY DEFINER with a fixed search_path, not for PUBLIC
SELECT p.provolatile, p.prosecdef, p.proconfig,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute
  FROM pg_proc p WHERE p.oid = 'containers_vreg.unreferenced_objects(bigint, text[])'::regprocedure;

-- (index_use.sql shows the plan of the query it runs: one probe of the
-- unique (group_id, object_storage_key) index per key)

SELECT vreg_test.reset();

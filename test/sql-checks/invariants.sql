-- The invariants a crash or a long mixed load must never break (the rules of
-- docs/design.md). Shared by test/scripts/crash_recovery.sh and
-- test/soak/run.sh through test/sql-checks/invariants.bash; not a pg_regress
-- test (every sql/*.sql is one).
--
-- Output (psql -At): one line per check, `<check>|<violations>`, 0 = held.
-- The table scans are forced to the heap (no index scans), so an index that a
-- crash left out of step with its table cannot hide a duplicate; amcheck then
-- verifies every btree index of the schema against its heap.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS amcheck;
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
SET enable_bitmapscan = off;

CREATE FUNCTION pg_temp.credential_opens(g bigint, u bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  RETURN containers_vreg.upstream_credentials(g, u) ? 'password';
EXCEPTION WHEN OTHERS THEN
  RETURN false;
END $$;

CREATE FUNCTION pg_temp.index_ok(idx regclass) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM bt_index_check(idx, true);
  RETURN true;
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'index % fails amcheck: %', idx, SQLERRM;
  RETURN false;
END $$;

SELECT 'positions are exactly 1..n (n <= 5) in every registry', count(*)
  FROM (SELECT group_id, registry_id, count(*) AS n,
               array_agg("position" ORDER BY "position") AS p
          FROM containers_vreg.registry_upstreams GROUP BY 1, 2) s
 WHERE n > 5 OR p <> ARRAY(SELECT generate_series(1, n::int)::smallint);

SELECT 'at most one live entry per (group, upstream, relative_path)', count(*)
  FROM (SELECT 1 FROM containers_vreg.cache_entries WHERE status = 0
         GROUP BY group_id, upstream_id, relative_path HAVING count(*) > 1) s;

SELECT 'no entry shares its object_storage_key with a live entry', count(*)
  FROM containers_vreg.cache_entries a
  JOIN containers_vreg.cache_entries b
    ON b.group_id = a.group_id AND b.object_storage_key = a.object_storage_key AND b.id <> a.id
 WHERE b.status = 0;

SELECT 'every object_storage_key lies under its group''s prefix', count(*)
  FROM containers_vreg.cache_entries
 WHERE left(object_storage_key, length(containers_vreg.object_storage_prefix(group_id)))
       <> containers_vreg.object_storage_prefix(group_id);

SELECT 'no live entry of a deleted upstream', count(*)
  FROM containers_vreg.cache_entries e
 WHERE e.status = 0
   AND NOT EXISTS (SELECT FROM containers_vreg.upstreams u
                    WHERE u.group_id = e.group_id AND u.id = e.upstream_id);

SELECT 'every stored credential opens', count(*)
  FROM containers_vreg.upstreams
 WHERE credentials IS NOT NULL AND NOT pg_temp.credential_opens(group_id, id);

SELECT 'group_usage equals the entries counted from the table', count(*)
  FROM (SELECT g.group_id, x.upstream_id, x.live_entries, x.live_bytes, x.pending_entries, x.pending_bytes
          FROM (SELECT group_id FROM containers_vreg.upstreams
                UNION SELECT group_id FROM containers_vreg.cache_entries) g,
               containers_vreg.group_usage(g.group_id) x
         WHERE x.upstream_id IS NOT NULL) u
  FULL JOIN (SELECT group_id, upstream_id,
                    count(*) FILTER (WHERE status = 0) AS live_entries,
                    coalesce(sum(size) FILTER (WHERE status = 0), 0) AS live_bytes,
                    count(*) FILTER (WHERE status <> 0) AS pending_entries,
                    coalesce(sum(size) FILTER (WHERE status <> 0), 0) AS pending_bytes
               FROM containers_vreg.cache_entries GROUP BY 1, 2) a
    USING (group_id, upstream_id)
 WHERE (coalesce(u.live_entries, 0), coalesce(u.live_bytes, 0),
        coalesce(u.pending_entries, 0), coalesce(u.pending_bytes, 0))
       IS DISTINCT FROM
       (coalesce(a.live_entries, 0), coalesce(a.live_bytes, 0),
        coalesce(a.pending_entries, 0), coalesce(a.pending_bytes, 0));

SELECT 'every btree index of the schema matches its table (amcheck)', count(*)
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_am am ON am.oid = c.relam AND am.amname = 'btree'
  JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'containers_vreg'
 WHERE c.relkind = 'i' AND NOT pg_temp.index_ok(c.oid::regclass);

-- mark one live entry (locked first, so no concurrent worker can change it in between)
\set g random(1, :groups)
\set u :g * 100 + random(1, 4)
WITH e AS MATERIALIZED (
  SELECT c.group_id, c.id FROM containers_vreg.cache_entries c
   WHERE c.group_id = :g AND c.upstream_id = :u AND c.status = 0
   ORDER BY c.id LIMIT 1 FOR UPDATE SKIP LOCKED)
SELECT containers_vreg.mark_for_destruction(e.group_id, e.id) FROM e;

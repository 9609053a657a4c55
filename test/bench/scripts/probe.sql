-- The bare probe of the winning entry (upstream at position :k of registry
-- 5), same path expression as resolve_hit.sql: one descent of the live-path
-- index by (group_id, relative_path), the way resolve descends its index
-- (every upstream's live entry of that path at once). The floor.
\set g random(1, :ng)
\set i 10 * random(0, :m / 10 - 1) + random(3, 9)
\set n 1 + (:i * 7 + :k) % @NN@
\set h :g * 1099511627776 + :k * 68719476736 + :i / 3
SELECT id, upstream_id, relative_path, object_storage_key, file, size, content_type, upstream_etag, digest
  FROM containers_vreg.cache_entries
 WHERE group_id = :g
   AND relative_path = '/' || (@NAMES@)[:n::integer] || '/blobs/sha256:' || encode(sha256(int8send(:h::bigint)), 'hex') AND status = 0;

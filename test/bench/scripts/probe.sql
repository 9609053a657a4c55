-- The bare single-index probe of the winning entry (upstream at position :k
-- of registry 5), same path expression as resolve_hit.sql: the floor.
\set g random(1, :ng)
\set i 10 * random(0, :m / 10 - 1) + random(3, 9)
\set n 1 + (:i * 7 + :k) % @NN@
\set h :g * 1099511627776 + :k * 68719476736 + :i / 3
SELECT id, upstream_id, relative_path, object_storage_key, file, size, content_type, upstream_etag, digest
  FROM containers_vreg.cache_entries
 WHERE group_id = :g AND upstream_id = (:g - 1) * 5 + :k
   AND relative_path = '/' || (@NAMES@)[:n::integer] || '/blobs/sha256:' || encode(sha256(int8send(:h::bigint)), 'hex') AND status = 0;

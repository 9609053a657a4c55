-- The bare descent resolve makes for a blob: every live entry of the group
-- with the digest (here the blob under up to three image names, all in the
-- upstream at position :k), through the live-digest index.
\set g random(1, :ng)
\set i 10 * random(0, :m / 10 - 1) + random(3, 9)
\set h :g * 1099511627776 + :k * 68719476736 + :i / 3
SELECT id, upstream_id, relative_path, object_storage_key, file, size, content_type, upstream_etag, digest
  FROM containers_vreg.cache_entries
 WHERE group_id = :g
   AND digest = 'sha256:' || encode(sha256(int8send(:h::bigint)), 'hex') AND status = 0;

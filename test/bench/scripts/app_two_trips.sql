-- What an application does without the extension: 1) the registry's
-- upstreams in position order, 2) their live entries for the path (the
-- application then keeps the one of the lowest position). Two round trips.
\set g random(1, :ng)
\set i 10 * random(0, :m / 10 - 1) + random(3, 9)
\set n 1 + (:i * 7 + :k) % @NN@
\set h :g * 1099511627776 + :k * 68719476736 + :i / 3
SELECT array_agg(ru.upstream_id ORDER BY ru.position) AS ups
  FROM containers_vreg.registry_upstreams ru
  JOIN containers_vreg.upstreams u ON u.group_id = ru.group_id AND u.id = ru.upstream_id
 WHERE ru.group_id = :g AND ru.registry_id = (:g - 1) * 5 + 5 \gset
SELECT id, upstream_id, relative_path, object_storage_key, file, size, content_type, upstream_etag, digest
  FROM containers_vreg.cache_entries
 WHERE group_id = :g AND upstream_id = ANY (:ups::bigint[])
   AND relative_path = '/' || (@NAMES@)[:n::integer] || '/blobs/sha256:' || encode(sha256(int8send(:h::bigint)), 'hex') AND status = 0;

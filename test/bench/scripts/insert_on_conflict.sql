-- The bare statement upsert_cache_entry() wraps: INSERT ... ON CONFLICT ...
-- DO UPDATE on the same rows (key generated the same way).
\set k random(1, 5)
\set g random(1, :ng)
\set i 10 * random(0, :m / 10 - 1) + random(3, 9)
\set n 1 + (:i * 7 + :k) % @NN@
\set h :g * 1099511627776 + :k * 68719476736 + :i / 3
INSERT INTO containers_vreg.cache_entries AS e
       (group_id, upstream_id, relative_path, upstream_checked_at, size, file,
        object_storage_key, content_type, file_sha1, digest)
VALUES (:g, (:g - 1) * 5 + :k, '/' || (@NAMES@)[:n::integer] || '/blobs/sha256:' || encode(sha256(int8send(:h::bigint)), 'hex'), now(), :i * 1000, 'cas/bench/' || :h,
        'groups/' || :g || '/upstreams/' || ((:g - 1) * 5 + :k) || '/' || gen_random_uuid(),
        'application/vnd.oci.image.layer.v1.tar+gzip',
        '\x0123456789abcdef0123456789abcdef01234567'::bytea,
        'sha256:' || encode(sha256(int8send(:h::bigint)), 'hex'))
ON CONFLICT (group_id, upstream_id, relative_path) WHERE status = 0
DO UPDATE SET upstream_checked_at = now(), upstream_etag = EXCLUDED.upstream_etag,
              size = EXCLUDED.size, file = EXCLUDED.file, content_type = EXCLUDED.content_type,
              file_md5 = EXCLUDED.file_md5, file_sha1 = EXCLUDED.file_sha1, digest = EXCLUDED.digest
RETURNING e.id;

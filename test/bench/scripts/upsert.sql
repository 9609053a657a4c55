-- upsert_cache_entry() of an existing live blob (the update branch: a
-- re-fetch), random upstream.
\set k random(1, 5)
\set g random(1, :ng)
\set i 10 * random(0, :m / 10 - 1) + random(3, 9)
\set n 1 + (:i * 7 + :k) % @NN@
\set h :g * 1099511627776 + :k * 68719476736 + :i / 3
SELECT id FROM containers_vreg.upsert_cache_entry(:g, (:g - 1) * 5 + :k, '/' || (@NAMES@)[:n::integer] || '/blobs/sha256:' || encode(sha256(int8send(:h::bigint)), 'hex'),
  :i * 1000, 'cas/bench/' || :h, '\x0123456789abcdef0123456789abcdef01234567'::bytea,
  'application/vnd.oci.image.layer.v1.tar+gzip');

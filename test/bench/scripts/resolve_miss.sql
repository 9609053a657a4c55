-- resolve() miss on registry 5: a digest no upstream has (k = 6 is no
-- upstream), so every one of the 5 upstreams is probed.
\set k 6
\set g random(1, :ng)
\set i 10 * random(0, :m / 10 - 1) + random(3, 9)
\set n 1 + (:i * 7 + :k) % @NN@
\set h :g * 1099511627776 + :k * 68719476736 + :i / 3
SELECT * FROM containers_vreg.resolve(:g, (:g - 1) * 5 + 5, '/' || (@NAMES@)[:n::integer] || '/blobs/sha256:' || encode(sha256(int8send(:h::bigint)), 'hex'));

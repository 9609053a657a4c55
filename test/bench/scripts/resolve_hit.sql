-- resolve() hit on registry 5 (5 upstreams); the blob is cached only in the
-- upstream at position :k (and under up to two other image names there).
\set g random(1, :ng)
\set i 10 * random(0, :m / 10 - 1) + random(3, 9)
\set n 1 + (:i * 7 + :k) % @NN@
\set h :g * 1099511627776 + :k * 68719476736 + :i / 3
SELECT * FROM containers_vreg.resolve(:g, (:g - 1) * 5 + 5, '/' || (@NAMES@)[:n::integer] || '/blobs/sha256:' || encode(sha256(int8send(:h::bigint)), 'hex'));

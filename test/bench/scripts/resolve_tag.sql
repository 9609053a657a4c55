-- resolve() of a tag manifest (exact-path probe, staleness computed) cached
-- in the upstream at position :k of registry 5.
\set g random(1, :ng)
\set i 10 * random(0, :m / 10 - 1)
\set n 1 + (:i * 7 + :k) % @NN@
SELECT * FROM containers_vreg.resolve(:g, (:g - 1) * 5 + 5, '/' || (@NAMES@)[:n::integer] || '/manifests/v' || :i);

-- reorder: every upstream of a group is linked to both registries, so this never misses
\set g random(1, :groups)
\set reg :g * 10 + random(1, 2)
\set u :g * 100 + random(1, 4)
\set to random(1, 4)
SELECT containers_vreg.move_upstream(:g, :reg, :u, :to);

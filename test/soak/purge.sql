-- purge a whole upstream now and then
\set g random(1, :groups)
\set u :g * 100 + random(1, 4)
SELECT containers_vreg.purge_upstream(:g, :u);

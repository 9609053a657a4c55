-- a pull that hits: resolve, then count the download (one statement)
\set g random(1, :groups)
\set reg :g * 10 + random(1, 2)
\set p random(1, 400)
SELECT containers_vreg.record_download(:g, r.entry_id)
  FROM containers_vreg.resolve(:g, :reg,
         CASE WHEN :p % 2 = 0 THEN 'img' || (:p % 20) || '/manifests/v' || :p
              ELSE 'img' || (:p % 20) || '/blobs/sha256:' || encode(sha256(:p::text::bytea), 'hex') END) r
 WHERE r.entry_id IS NOT NULL;

-- a fetch from an upstream stored in the cache (many clients on few paths)
\set g random(1, :groups)
\set u :g * 100 + random(1, 4)
\set p random(1, 400)
SELECT (containers_vreg.upsert_cache_entry(:g, :u,
          CASE WHEN :p % 2 = 0 THEN 'img' || (:p % 20) || '/manifests/v' || :p
               ELSE 'img' || (:p % 20) || '/blobs/sha256:' || encode(sha256(:p::text::bytea), 'hex') END,
          :p * 1000, 'file', decode(repeat('ab', 20), 'hex'), NULL, '"etag-' || :p || '"')).id;

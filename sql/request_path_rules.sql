-- Rules of the stored cache entry that the request path must keep: what an
-- update does with each optional argument of upsert_cache_entry (a NULL never
-- downgrades a known media type).
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();
TRUNCATE containers_vreg.fetch_leases;

INSERT INTO containers_vreg.upstreams (group_id, id, url) VALUES (5, 50, 'https://ghcr.io');
SELECT '\x' || repeat('11', 20) AS sha1, '\x' || repeat('22', 20) AS sha1b,
       '\x' || repeat('33', 16) AS md5, 'sha256:' || repeat('e', 64) AS de,
       'application/vnd.oci.image.index.v1+json' AS oci_index \gset
-- upsert with only the optional arguments that matter here
CREATE FUNCTION pg_temp.up(p text, ctype text, etag text DEFAULT NULL, md5 bytea DEFAULT NULL,
                           okey text DEFAULT NULL, sha1 bytea DEFAULT '\x1111111111111111111111111111111111111111')
RETURNS containers_vreg.cache_entries LANGUAGE sql AS $$
  SELECT * FROM containers_vreg.upsert_cache_entry(5, 50, p, 10, 'f', sha1, ctype, etag, md5, okey)
$$;

-- content_type -------------------------------------------------------------------
-- a new entry without a type gets the default; a given type is stored exactly
SELECT content_type FROM pg_temp.up('new/manifests/1', NULL);
SELECT content_type FROM pg_temp.up('idx/manifests/1', :'oci_index');
-- an update with NULL keeps the stored type: it never turns into application/octet-stream
SELECT id AS idx_id FROM containers_vreg.cache_entries WHERE relative_path = '/idx/manifests/1' \gset
SELECT id = :idx_id AS same_entry, content_type FROM pg_temp.up('idx/manifests/1', NULL);
SELECT content_type FROM pg_temp.up('idx/manifests/1', NULL, NULL, NULL, NULL, :'sha1b');  -- new content, type unknown
-- a given type replaces it, also a downgrade the caller asks for
SELECT content_type FROM pg_temp.up('idx/manifests/1', 'application/vnd.oci.image.manifest.v1+json');
SELECT content_type FROM pg_temp.up('idx/manifests/1', 'application/octet-stream');
SELECT content_type FROM pg_temp.up('idx/manifests/1', NULL);
-- replacing the live entry under a new key keeps its type too; the old entry
-- goes to pending destruction unchanged
SELECT content_type FROM pg_temp.up('key/manifests/1', :'oci_index', NULL, NULL, 'groups/5/k1');
SELECT object_storage_key, content_type FROM pg_temp.up('key/manifests/1', NULL, NULL, NULL, 'groups/5/k2');
SELECT status, object_storage_key, content_type FROM containers_vreg.cache_entries
 WHERE relative_path = '/key/manifests/1' ORDER BY id;
-- a path whose old entry is no longer live is new: the default applies
SELECT containers_vreg.mark_for_destruction(5, id) FROM containers_vreg.cache_entries
 WHERE relative_path = '/key/manifests/1' AND status = 0;
SELECT content_type FROM pg_temp.up('key/manifests/1', NULL);

-- upstream_etag, digest, file_md5 -------------------------------------------------------
-- They describe the file just stored: an update with NULL clears them, because
-- the previous file's ETag, digest or checksum would be wrong for the new one.
SELECT upstream_etag = '"' || :'de' || '"' AS etag, digest = :'de' AS digest, file_md5 = :'md5' AS md5
  FROM pg_temp.up('tag/manifests/1', :'oci_index', '"' || :'de' || '"', :'md5');
SELECT upstream_etag, digest, file_md5, content_type
  FROM pg_temp.up('tag/manifests/1', NULL, NULL, NULL, NULL, :'sha1b');
-- a digest path keeps its digest from the path whatever the ETag
SELECT digest = :'de' AS digest_from_path, upstream_etag
  FROM pg_temp.up('dig/manifests/' || :'de', :'oci_index', '"' || :'de' || '"');
SELECT digest = :'de' AS digest_from_path, upstream_etag, content_type
  FROM pg_temp.up('dig/manifests/' || :'de', NULL);
-- one live row per path throughout
SELECT relative_path, count(*) FILTER (WHERE status = 0) AS live, count(*) AS all_rows
  FROM containers_vreg.cache_entries WHERE group_id = 5 GROUP BY 1 ORDER BY 1;

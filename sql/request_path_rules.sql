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

-- byte limits ----------------------------------------------------------------------------
-- Text that an index holds is limited in bytes, as a btree entry is: relative_path
-- and object_storage_key at most 1024 bytes (in cache_entries and fetch_leases),
-- whatever characters a raw INSERT uses. The API's paths are ASCII: the same 1024.
CREATE FUNCTION pg_temp.raw(path text, okey text DEFAULT NULL) RETURNS text LANGUAGE sql AS $$
  SELECT vreg_test.err(format(
    $f$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
       VALUES (5, 50, %L, 1, 'f', %L, '\x1111111111111111111111111111111111111111')$f$,
    path, coalesce(okey, 'groups/5/raw/' || md5(path))))
$$;
CREATE FUNCTION pg_temp.lease(path text) RETURNS text LANGUAGE sql AS $$
  SELECT vreg_test.err(format(
    $f$INSERT INTO containers_vreg.fetch_leases (group_id, upstream_id, relative_path, leased_until)
       VALUES (5, 50, %L, now())$f$, path))
$$;
-- n four-byte characters that do not compress (so the index cannot shrink them)
CREATE FUNCTION pg_temp.wide(n integer) RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(chr(65536 + (i * 7919) % 900000), '' ORDER BY i) FROM generate_series(1, n) i
$$;
SELECT vreg_test.state() AS s0 \gset
-- 1023 four-byte characters (4093 bytes): the CHECK refuses it (it used to reach the index: 54000)
SELECT char_length(p), octet_length(p), pg_temp.raw(p) FROM (SELECT '/' || pg_temp.wide(1023) AS p) x;
SELECT char_length(p), octet_length(p), pg_temp.lease(p) FROM (SELECT '/' || pg_temp.wide(1023) AS p) x;
-- 513 two-byte characters: under 1024 characters, over 1024 bytes
SELECT char_length(p), octet_length(p), pg_temp.raw(p) FROM (SELECT '/' || repeat(chr(233), 512) AS p) x;
SELECT char_length(p), octet_length(p), pg_temp.lease(p) FROM (SELECT '/' || repeat(chr(233), 512) AS p) x;
-- one byte over, in ASCII
SELECT pg_temp.raw('/' || repeat('p', 1024)) AS path_1025, pg_temp.lease('/' || repeat('p', 1024)) AS lease_1025;
SELECT pg_temp.raw('/p', 'groups/5/' || repeat('k', 1016)) AS key_1025;
SELECT vreg_test.state() = :'s0' AS unchanged;
-- the worst case fits every index: a 1024-byte path of four-byte characters
-- and a 1024-byte key, neither compressible
SELECT '/' || pg_temp.wide(255) || 'abc' AS wp,
       'groups/5/' || (SELECT string_agg(md5(i::text), '' ORDER BY i) FROM generate_series(1, 32) i) AS wk \gset
SELECT octet_length(:'wp') AS path_bytes, char_length(:'wp') AS path_chars,
       octet_length(left(:'wk', 1024)) AS key_bytes, pg_temp.raw(:'wp', left(:'wk', 1024)) AS worst_entry,
       pg_temp.lease(:'wp') AS worst_lease;
SELECT status, octet_length(relative_path), octet_length(object_storage_key)
  FROM containers_vreg.cache_entries WHERE relative_path = :'wp';
-- the API: the same limit in bytes, and a message that says bytes
SELECT vreg_test.err(format('SELECT * FROM containers_vreg.parse_request_path(%L)', repeat(chr(233), 612))) AS chars_612;
SELECT vreg_test.err(format('SELECT * FROM containers_vreg.parse_request_path(%L)', repeat('a', 1016) || '/blobs/x')) AS bytes_1024;
SELECT vreg_test.err(format('SELECT * FROM containers_vreg.parse_request_path(%L)', repeat('a', 1017) || '/blobs/x')) AS bytes_1025;
SELECT vreg_test.err(format('SELECT containers_vreg.claim_fetch(5, 50, %L)', repeat(chr(233), 612))) AS claim_fetch;
-- every CHECK on relative_path or object_storage_key counts bytes
SELECT conrelid::regclass, conname, pg_get_constraintdef(oid) ~ 'char_length' AS counts_characters,
       pg_get_constraintdef(oid) ~ 'octet_length' AS counts_bytes
  FROM pg_constraint
 WHERE conrelid IN ('containers_vreg.cache_entries'::regclass, 'containers_vreg.fetch_leases'::regclass)
   AND contype = 'c' AND pg_get_constraintdef(oid) ~ '(relative_path|object_storage_key)'
 ORDER BY 1, 2;

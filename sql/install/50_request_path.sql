-- ---------------------------------------------------------------------------
-- The request path (docs/design.md, "The request path"): resolve, upsert_cache_entry,
-- mark_checked, record_download / flush_downloads, and the pure path helpers
-- (OCI distribution grammar in src/oci_path.c).
--
-- The five API functions are SECURITY DEFINER (with a fixed search_path), so
-- the request-path role needs EXECUTE on them and no table privilege at all;
-- PUBLIC may execute none of them. The three helpers are pure (IMMUTABLE, they
-- read no table and reveal nothing) and stay executable by whoever may use the
-- schema.
-- ---------------------------------------------------------------------------

-- Pure helpers ----------------------------------------------------------------
CREATE FUNCTION @extschema@.is_docker_hub_url(url text) RETURNS boolean
  AS 'MODULE_PATHNAME', 'containers_vreg_is_docker_hub_url'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.is_docker_hub_url(text) IS
  'is_docker_hub_url(url text) -> boolean. True when the URL''s host is Docker Hub (registry-1.docker.io, docker.io or index.docker.io, any case, one trailing dot allowed): for such upstreams a one-component image name x is stored and looked up as library/x, so one image has one cache key. NULL in, NULL out; no errors.';

CREATE FUNCTION @extschema@.parse_request_path(path text, docker_hub boolean DEFAULT false,
  OUT relative_path text, OUT kind text, OUT digest text)
  RETURNS record
  AS 'MODULE_PATHNAME', 'containers_vreg_parse_request_path'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.parse_request_path(text, boolean) IS
  'parse_request_path(path text, docker_hub boolean DEFAULT false) -> (relative_path text, kind text, digest text). Validates a request path under /v2/ by the OCI distribution grammar (<name>/manifests/<tag or digest> or <name>/blobs/<digest>, printable ASCII, at most 1024 bytes) and returns its canonical relative_path (with library/ for a one-component Docker Hub name), its kind (tag_manifest, digest_manifest or blob) and its digest (NULL for a tag). The path is the part after /v2/: a name of two or more components whose first is v2 (/v2/library/alpine/manifests/latest, with or without the leading slash) is refused, with a hint to pass the part after /v2/, because taken as a name it would build a second cache of every image; a repository named v2/... is therefore not servable, while v2 elsewhere (library/v2, v2x/app) and the one-component name v2 are ordinary names. Errors: 22023 naming the problem, as resolve, upsert_cache_entry, claim_fetch, begin_fetch, release_fetch and store_cache_entry raise it; NULL in, NULL out. Rule: the OCI distribution grammar, and one cache key per image.';

CREATE FUNCTION @extschema@.etag_digest(etag text) RETURNS text
  AS 'MODULE_PATHNAME', 'containers_vreg_etag_digest'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.etag_digest(text) IS
  'etag_digest(etag text) -> text. The sha256 or sha512 digest an upstream ETag names once a W/ prefix and double quotes are stripped (W/"sha256:..." gives sha256:...), or NULL when it names none, so a tag manifest gets a digest from its ETag. NULL in, NULL out; no errors.';

-- resolve ---------------------------------------------------------------------
CREATE FUNCTION @extschema@.resolve(group_id bigint, registry_id bigint, path text,
  OUT result text, OUT entry_id bigint, OUT upstream_id bigint, OUT "position" smallint,
  OUT relative_path text, OUT object_storage_key text, OUT file text, OUT size bigint,
  OUT content_type text, OUT upstream_etag text, OUT digest text)
  RETURNS record
  AS 'MODULE_PATHNAME', 'containers_vreg_resolve'
  LANGUAGE C STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.resolve(bigint, bigint, text) IS
  'resolve(group_id bigint, registry_id bigint, path text) -> (result text, entry_id, upstream_id, position, relative_path, object_storage_key, file, size bigint bytes, content_type, upstream_etag, digest). Among the registry''s upstreams in position order the first with a live entry for the path wins (a digest path matches that digest under any name); result is hit, stale (a tag manifest older than its upstream''s cache_validity_hours, or any tag when that is 0) or miss with the other columns NULL. Writes nothing; errors: 22004 NULL argument; 22023 bad path (see parse_request_path); P0002 registry not in the group.';
REVOKE ALL ON FUNCTION @extschema@.resolve(bigint, bigint, text) FROM PUBLIC;

-- check_stored_object ---------------------------------------------------------
-- The rules of cache_entries_object_storage_key_check, checked before the
-- insert so that a bad key is 22023 with a message naming the argument, not
-- 23514 with the whole row in its DETAIL. The content type is sent back as an
-- HTTP header by every service: a value with a CR or LF would split the
-- response. The table CHECK on content_type stays as it is (only its length):
-- changing it would make an update scan every cache entry.
CREATE FUNCTION @extschema@.check_stored_object(group_id bigint, object_storage_key text, content_type text)
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  prefix text;
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(group_id, 'group_id');
  prefix := @extschema@.object_storage_prefix(group_id);
  IF object_storage_key IS NOT NULL AND NOT starts_with(object_storage_key, prefix) THEN
    RAISE EXCEPTION 'object_storage_key must lie under the group''s prefix %', prefix
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF object_storage_key IS NOT NULL
     AND NOT (octet_length(object_storage_key) <= 1024
              AND octet_length(object_storage_key) > octet_length(prefix)
              AND object_storage_key ~ '^[A-Za-z0-9!_.*''()/-]+$'
              AND object_storage_key !~ '(^|/)\.\.?(/|$)'
              AND object_storage_key !~ '//'
              AND right(object_storage_key, 1) <> '/') THEN
    RAISE EXCEPTION 'object_storage_key % breaks the key rules', quote_literal(left(object_storage_key, 100))
      USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('A key lies under %s, has at most 1024 bytes of A-Z a-z 0-9 !_.*''()/- and no empty, "." or ".." segment, and does not end in /.', prefix);
  END IF;
  -- RFC 6838 restricted names for type and subtype, then optional
  -- ;parameters in printable ASCII (no control character, so no CR or LF).
  IF content_type IS NOT NULL
     AND NOT (char_length(content_type) <= 255
              AND content_type ~ '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}( *;[ -~]*)?$') THEN
    RAISE EXCEPTION 'content_type must be a media type of at most 255 characters: type/subtype, then optional ;parameters in printable ASCII'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'For example application/octet-stream or text/plain; charset=UTF-8. Services send it back as an HTTP header.';
  END IF;
END $$;
COMMENT ON FUNCTION @extschema@.check_stored_object(bigint, text, text) IS
  'check_stored_object(group_id bigint, object_storage_key text, content_type text) -> void. Internal: the argument checks of upsert_cache_entry and store_cache_entry; a NULL key or type passes. Errors: 22004 NULL group_id; 22023 a key outside the group''s prefix or breaking the key rules of cache_entries (over 1024 bytes, a character outside A-Z a-z 0-9 !_.*''()/-, an empty, "." or ".." segment, a trailing /), and a content_type that is not a media type (type/subtype of RFC 6838 token characters, optional ;parameters in printable ASCII, at most 255 characters; so never a control character).';
REVOKE ALL ON FUNCTION @extschema@.check_stored_object(bigint, text, text) FROM PUBLIC;

-- upsert_cache_entry ----------------------------------------------------------
CREATE FUNCTION @extschema@.upsert_cache_entry(group_id bigint, upstream_id bigint, path text,
  size bigint, file text, file_sha1 bytea, content_type text DEFAULT NULL,
  upstream_etag text DEFAULT NULL, file_md5 bytea DEFAULT NULL,
  object_storage_key text DEFAULT NULL)
  RETURNS @extschema@.cache_entries
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  v_group      bigint := $1;
  v_upstream   bigint := $2;
  v_path       text := $3;
  v_size       bigint := $4;
  v_file       text := $5;
  v_sha1       bytea := $6;
  -- NULL: the live entry's type stays (an update must never downgrade a
  -- known media type to application/octet-stream); a new path gets that default.
  v_type       text := $7;
  v_prev_type  text;
  v_etag       text := $8;
  v_md5        bytea := $9;
  v_given_key  text := $10;
  v_rel        text;
  v_path_digest text;
  v_etag_digest text;
  v_key        text;
  v_row        @extschema@.cache_entries;
BEGIN
  IF v_group IS NULL OR v_upstream IS NULL OR v_path IS NULL OR v_size IS NULL
     OR v_file IS NULL OR v_sha1 IS NULL THEN
    RAISE EXCEPTION '% must not be NULL',
      CASE WHEN v_group IS NULL THEN 'group_id' WHEN v_upstream IS NULL THEN 'upstream_id'
           WHEN v_path IS NULL THEN 'path' WHEN v_size IS NULL THEN 'size'
           WHEN v_file IS NULL THEN 'file' ELSE 'file_sha1' END
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- The table's CHECK constraints would refuse these too (23514); say what
  -- is wrong with which argument instead.
  IF v_size < 0 OR v_size > 1099511627776 THEN
    RAISE EXCEPTION 'size must be between 0 and 1099511627776 bytes (1 TiB), not %', v_size
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF octet_length(v_sha1) <> 20 THEN
    RAISE EXCEPTION 'file_sha1 must be 20 bytes, not %', octet_length(v_sha1)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF octet_length(v_md5) <> 16 THEN
    RAISE EXCEPTION 'file_md5 must be NULL or 16 bytes, not %', octet_length(v_md5)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM @extschema@.check_stored_object(v_group, v_given_key, v_type);

  -- KEY SHARE: a concurrent delete of the upstream (which marks its live
  -- entries pending destruction) waits for us, so no live entry outlives it.
  -- The path is parsed in the same statement (one executor run, not two),
  -- and only for an upstream that exists: an unknown upstream is P0002
  -- whatever the path.
  SELECT p.relative_path, p.digest INTO v_rel, v_path_digest
    FROM @extschema@.upstreams u
   CROSS JOIN LATERAL @extschema@.parse_request_path(v_path, @extschema@.is_docker_hub_url(u.url)) p
   WHERE u.group_id = v_group AND u.id = v_upstream
     FOR KEY SHARE OF u;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'upstream % of group % does not exist', v_upstream, v_group
      USING ERRCODE = 'no_data_found';
  END IF;
  IF v_etag IS NOT NULL THEN
    v_etag_digest := @extschema@.etag_digest(v_etag);
  END IF;
  IF v_path_digest IS NOT NULL AND v_etag_digest IS NOT NULL
     AND v_etag_digest <> v_path_digest THEN
    RAISE EXCEPTION 'upstream ETag names digest % but the path names digest %',
      v_etag_digest, v_path_digest
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'The upstream sent content that does not match the requested digest; do not cache it.';
  END IF;

  v_key := coalesce(v_given_key,
                    @extschema@.object_storage_prefix(v_group) || 'upstreams/' || v_upstream
                    || '/' || gen_random_uuid());

  -- One live row per (group, upstream, path) under any concurrency: the
  -- partial unique index arbitrates. A live entry keeps its key unless the
  -- caller supplies a different one: then that entry goes to pending
  -- destruction (its object gets deleted) and a new live entry takes the
  -- key. Each retry waits for the competing transaction, so it terminates.
  FOR attempt IN 1 .. 10 LOOP
    INSERT INTO @extschema@.cache_entries AS e
           (group_id, upstream_id, relative_path, upstream_checked_at, upstream_etag, size,
            file, object_storage_key, content_type, file_md5, file_sha1, digest)
    VALUES (v_group, v_upstream, v_rel, now(), v_etag, v_size,
            v_file, v_key, coalesce(v_type, v_prev_type, 'application/octet-stream'),
            v_md5, v_sha1, coalesce(v_path_digest, v_etag_digest))
    ON CONFLICT (group_id, upstream_id, relative_path) WHERE status = 0 /* live */
    DO UPDATE SET upstream_checked_at = now(),
                  upstream_etag = EXCLUDED.upstream_etag,
                  size = EXCLUDED.size,
                  file = EXCLUDED.file,
                  content_type = coalesce(v_type, e.content_type),
                  file_md5 = EXCLUDED.file_md5,
                  file_sha1 = EXCLUDED.file_sha1,
                  digest = EXCLUDED.digest
       WHERE v_given_key IS NULL OR e.object_storage_key = EXCLUDED.object_storage_key
    RETURNING e.* INTO v_row;
    IF FOUND THEN
      RETURN v_row;
    END IF;
    -- The live entry (locked by the statement above) has another key. The
    -- entry that replaces it keeps its media type unless the caller gave one.
    UPDATE @extschema@.cache_entries e
       SET status = 2 /* pending destruction */
     WHERE e.group_id = v_group AND e.upstream_id = v_upstream
       AND e.relative_path = v_rel AND e.status = 0 /* live */
       AND e.object_storage_key <> v_key
    RETURNING e.content_type INTO v_prev_type;
  END LOOP;
  RAISE EXCEPTION 'could not replace the live cache entry of upstream % for % after 10 attempts',
    v_upstream, v_rel
    USING ERRCODE = 'serialization_failure',
          HINT = 'Other sessions keep storing this path with other object-storage keys; retry.';
END
$$;
COMMENT ON FUNCTION @extschema@.upsert_cache_entry(bigint, bigint, text, bigint, text, bytea, text, text, bytea, text) IS
  'upsert_cache_entry(group_id bigint, upstream_id bigint, path text, size bigint bytes, file text, file_sha1 bytea 20 bytes, content_type text, upstream_etag text, file_md5 bytea 16 bytes, object_storage_key text) -> the live cache_entries row. After a fetch, inserts or updates the one live entry of (group, upstream, canonical path), safe under any number of concurrent callers: a NULL content_type keeps the stored media type, a NULL key keeps the live entry''s key or generates one, and a different key queues the old entry for destruction. Errors: 22004 NULL required argument; 22023 bad path, size outside 0..1 TiB, bad checksum length, a key outside the group''s prefix or breaking the key rules of cache_entries (a .. segment, //, a trailing /, a character outside A-Z a-z 0-9 !_.*''()/-), a content_type that is not a media type (type/subtype, optional ;parameters in printable ASCII, no control character) or an ETag digest contradicting the path; P0002 upstream not in the group; 23514, 23505 column limits and key uniqueness.';
REVOKE ALL ON FUNCTION @extschema@.upsert_cache_entry(bigint, bigint, text, bigint, text, bytea, text, text, bytea, text) FROM PUBLIC;

-- mark_checked ----------------------------------------------------------------
CREATE FUNCTION @extschema@.mark_checked(group_id bigint, entry_id bigint) RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF $1 IS NULL OR $2 IS NULL THEN
    RAISE EXCEPTION '% must not be NULL', CASE WHEN $1 IS NULL THEN 'group_id' ELSE 'entry_id' END
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  UPDATE @extschema@.cache_entries e
     SET upstream_checked_at = now()
   WHERE e.group_id = $1 AND e.id = $2 AND e.status = 0 /* live */;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'cache entry % is not a live entry of group %', $2, $1
      USING ERRCODE = 'no_data_found',
            HINT = 'The entry may have been marked for destruction; resolve the path again.';
  END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.mark_checked(bigint, bigint) IS
  'mark_checked(group_id bigint, entry_id bigint) -> void. Records that the upstream revalidated a stale entry unchanged: sets its upstream_checked_at to now(). Errors: 22004 NULL argument; P0002 the entry is not a live entry of the group.';
REVOKE ALL ON FUNCTION @extschema@.mark_checked(bigint, bigint) FROM PUBLIC;

-- download counting -------------------------------------------------------------
-- Insert-only buffer: record_download never updates the entry row, so many
-- clients pulling one popular blob do not serialise on it. Logged, so a
-- committed download survives a crash. Derived state: deliberately NOT
-- registered with pg_extension_config_dump (a restore must not count twice).
CREATE TABLE @extschema@.download_buffer (
  group_id      bigint      NOT NULL,
  entry_id      bigint      NOT NULL,
  downloaded_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE @extschema@.download_buffer IS
  'Downloads recorded by record_download (and store_cache_entry) and not yet added to cache_entries by flush_downloads. Insert-only; one index, (group_id, entry_id), for mark_unused (sql/install/60_lifecycle.sql); not dumped (derived state).';

CREATE FUNCTION @extschema@.record_download(group_id bigint, entry_id bigint) RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF $1 IS NULL OR $2 IS NULL THEN
    RAISE EXCEPTION '% must not be NULL', CASE WHEN $1 IS NULL THEN 'group_id' ELSE 'entry_id' END
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- One statement: one probe of the primary key (group_id, id) in the group's
  -- partition, without a row lock, then the insert. An entry of any status
  -- counts: one that left the live state after resolve returned it (a purge,
  -- a cleanup pass, a url change) was served all the same.
  INSERT INTO @extschema@.download_buffer (group_id, entry_id, downloaded_at)
  SELECT $1, $2, now()
   WHERE EXISTS (SELECT FROM @extschema@.cache_entries e WHERE e.group_id = $1 AND e.id = $2);
  IF NOT FOUND THEN
    RAISE EXCEPTION 'cache entry % of group % does not exist', $2, $1
      USING ERRCODE = 'no_data_found',
            HINT = 'Pass the entry_id that resolve or store_cache_entry returned for this group; an entry whose destruction has finished is gone: resolve the path again.';
  END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.record_download(bigint, bigint) IS
  'record_download(group_id bigint, entry_id bigint) -> void. Records one download of a cache entry of the group: one probe of the primary key (group_id, id) without a row lock, then one insert into download_buffer (no session state, durable once committed); flush_downloads adds it to the entry later. An entry of any status counts, live or on its way to destruction: it may leave the live state between resolve and this call, and the client was served all the same, so a registry service never sees an error for a correct pull. Errors: 22004 NULL argument; P0002 no entry of that id in the group (a wrong id, another group''s entry, or an entry whose destruction finished). Rule: a download of an entry the group does not have is the caller''s mistake, reported at once rather than dropped unseen by the next flush.';
REVOKE ALL ON FUNCTION @extschema@.record_download(bigint, bigint) FROM PUBLIC;

CREATE FUNCTION @extschema@.flush_downloads() RETURNS bigint
  LANGUAGE sql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
  WITH taken AS (
    DELETE FROM @extschema@.download_buffer
    RETURNING group_id, entry_id, downloaded_at
  ), per_entry AS (
    SELECT t.group_id, t.entry_id, count(*) AS n, max(t.downloaded_at) AS last_at
      FROM taken t
     GROUP BY t.group_id, t.entry_id
  ), locked AS (
    -- lock the entries in key order, so two flushers never deadlock
    SELECT e.group_id, e.id, p.n, p.last_at
      FROM @extschema@.cache_entries e
      JOIN per_entry p ON p.group_id = e.group_id AND p.entry_id = e.id
     ORDER BY e.group_id, e.id
       FOR NO KEY UPDATE OF e
  ), updated AS (
    UPDATE @extschema@.cache_entries e
       SET downloads_count = e.downloads_count + l.n,
           downloaded_at = greatest(e.downloaded_at, l.last_at)
      FROM locked l
     WHERE e.group_id = l.group_id AND e.id = l.id
    RETURNING 1
  )
  SELECT count(*) FROM updated
$$;
COMMENT ON FUNCTION @extschema@.flush_downloads() IS
  'flush_downloads() -> bigint. Moves every buffered download into cache_entries (downloads_count + n, downloaded_at the latest download) and returns how many entries it updated; concurrent flushers count each download exactly once, so a popular blob never becomes a hot row. Downloads of an entry deleted since they were recorded (its destruction finished) are dropped. No errors of its own.';
REVOKE ALL ON FUNCTION @extschema@.flush_downloads() FROM PUBLIC;

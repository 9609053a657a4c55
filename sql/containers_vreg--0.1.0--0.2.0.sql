-- containers_vreg 0.1.0 -> 0.2.0 (hardening release).
-- Every change to sql/install/ since 0.1.0 is repeated here; test/scripts/upgrade.sh
-- checks that 0.1.0 + this script defines every extension member exactly as a
-- fresh 0.2.0 install does.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION containers_vreg UPDATE TO '0.2.0'" to load this file. \quit

-- object_storage_prefix: operators and cast qualified, because the body of an
-- inlinable SQL function is parsed under the caller's search_path.
CREATE OR REPLACE FUNCTION @extschema@.object_storage_prefix(group_id bigint) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  -- Operators and cast are qualified: the body of an inlinable SQL function
  -- is parsed under the caller's search_path.
  AS $$ SELECT 'groups/' OPERATOR(pg_catalog.||) $1::pg_catalog.text OPERATOR(pg_catalog.||) '/' $$;

-- Paths, keys and digests compare bytewise: btree probes skip strcoll().
-- (Rebuilds the indexes on these columns; the CHECK constraints on them are
-- added again from their source text below, as a fresh install has them.)
ALTER TABLE @extschema@.cache_entries
  ALTER COLUMN relative_path TYPE text COLLATE "C",
  ALTER COLUMN object_storage_key TYPE text COLLATE "C",
  ALTER COLUMN digest TYPE text COLLATE "C";
ALTER TABLE @extschema@.cache_entries
  DROP CONSTRAINT cache_entries_relative_path_check,
  ADD CONSTRAINT cache_entries_relative_path_check
    CHECK (char_length(relative_path) BETWEEN 1 AND 1024 AND left(relative_path, 1) = '/');
ALTER TABLE @extschema@.cache_entries
  DROP CONSTRAINT cache_entries_digest_check,
  ADD CONSTRAINT cache_entries_digest_check
    CHECK (digest ~ '^sha256:[0-9a-f]{64}$' OR digest ~ '^sha512:[0-9a-f]{128}$');

-- cache_entries: a size is at most 1 TiB (usage sums can no longer overflow
-- bigint), and an object-storage key uses only the characters every store
-- and URL builder takes literally. Existing rows are checked.
ALTER TABLE @extschema@.cache_entries
  DROP CONSTRAINT cache_entries_size_check,
  ADD CONSTRAINT cache_entries_size_check CHECK (size >= 0 AND size <= 1099511627776);
ALTER TABLE @extschema@.cache_entries
  DROP CONSTRAINT cache_entries_object_storage_key_check,
  ADD CONSTRAINT cache_entries_object_storage_key_check
    CHECK (char_length(object_storage_key) <= 1024
           AND starts_with(object_storage_key, @extschema@.object_storage_prefix(group_id))
           AND char_length(object_storage_key) > char_length(@extschema@.object_storage_prefix(group_id))
           AND object_storage_key ~ '^[A-Za-z0-9!_.*''()/-]+$'
           AND object_storage_key !~ '(^|/)\.\.?(/|$)'
           AND object_storage_key !~ '//'
           AND right(object_storage_key, 1) <> '/');

-- An entry that left the live state never becomes live again.
CREATE FUNCTION @extschema@.cache_entries_status_guard() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_cache_entries_status_guard' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.cache_entries_status_guard() IS
  'Trigger (internal): BEFORE UPDATE OF status row trigger on cache_entries refusing (SQLSTATE 23514) a change from a non-live status (1 processing, 2 pending destruction, 3 error) back to 0 (live): the object may already be deleted. Rule: DESIGN section 5 (lifecycle: no live entry''s file is ever deleted).';
CREATE TRIGGER cache_entries_status_guard BEFORE UPDATE OF status ON @extschema@.cache_entries
  FOR EACH ROW EXECUTE FUNCTION @extschema@.cache_entries_status_guard();

-- Plaintext credentials are sealed even under session_replication_role = replica.
ALTER TABLE @extschema@.upstreams ENABLE ALWAYS TRIGGER upstreams_credentials;

-- Leases are at most 365 days (22023 instead of a later 22008).
CREATE OR REPLACE FUNCTION @extschema@.lifecycle_check_lease(lease interval)
RETURNS void LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(lease, 'lease');
  IF lease <= interval '0' OR lease > interval '365 days' THEN
    RAISE EXCEPTION 'lease must be positive and at most 365 days, not %', lease
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass an interval such as ''30 seconds'' or ''1 hour''.';
  END IF;
END $$;
COMMENT ON FUNCTION @extschema@.lifecycle_check_lease(interval) IS
  'Internal: raises 22004 for a NULL lease and 22023 for a lease that is not positive or longer than 365 days.';
COMMENT ON FUNCTION @extschema@.claim_for_destruction(integer, interval) IS
  'claim_for_destruction(batch integer, lease interval DEFAULT ''1 hour'') -> setof (group_id bigint, entry_id bigint, object_storage_key text, file text, size bigint). Claims up to batch entries of any group for deletion, oldest first: pending ones (status 2) and processing ones (status 1) whose claim is older than lease (the worker died), sets them to processing and returns their object-storage keys. Rows locked by another claimer are skipped (FOR UPDATE SKIP LOCKED), so two workers never get the same entry. A live entry is never claimed, and since object_storage_key is unique per group and never changes, no returned key is used by a live entry. The caller deletes each object, then calls finish_destruction (or fail_destruction). Errors: 22023 for batch < 1 or a lease that is not positive or longer than 365 days; 22004 for NULL. Rule: DESIGN section 5 (lifecycle), issue 6.';
COMMENT ON FUNCTION @extschema@.claim_fetch(bigint, bigint, text, interval) IS
  'claim_fetch(group_id bigint, upstream_id bigint, path text, lease interval DEFAULT ''30 seconds'') -> boolean. Call after resolve missed, in its own short transaction: true to exactly one of many concurrent callers for the same (upstream, path), who then fetches from the upstream and upserts the entry; false to the others (wait and resolve again), and false when a live entry for the path already exists. The lease ends when a live entry for the path is inserted or when lease has passed (then the next caller gets true). path is the request path under /v2/, with or without the leading slash, normalised exactly as upsert_cache_entry stores it (parse_request_path; for a Docker Hub upstream a one-component name x is library/x), so the lease is keyed by the stored relative_path. Errors: P0002 for an upstream that does not exist in the group; 22023 for a bad path (the same error as parse_request_path, resolve and upsert_cache_entry) or a lease that is not positive or longer than 365 days; 22004 for NULL. Rule: DESIGN section 5 (one fetch per cold path), issue 6.';

-- upsert_cache_entry: bad size, sha1, md5 or key prefix are 22023 naming the argument.
CREATE OR REPLACE FUNCTION @extschema@.upsert_cache_entry(group_id bigint, upstream_id bigint, path text,
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
  v_type       text := coalesce($7, 'application/octet-stream');
  v_etag       text := $8;
  v_md5        bytea := $9;
  v_given_key  text := $10;
  v_url        text;
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
  IF v_given_key IS NOT NULL
     AND NOT starts_with(v_given_key, @extschema@.object_storage_prefix(v_group)) THEN
    RAISE EXCEPTION 'object_storage_key must lie under the group''s prefix %',
      @extschema@.object_storage_prefix(v_group)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  -- KEY SHARE: a concurrent delete of the upstream (which marks its live
  -- entries pending destruction) waits for us, so no live entry outlives it.
  SELECT u.url INTO v_url
    FROM @extschema@.upstreams u
   WHERE u.group_id = v_group AND u.id = v_upstream
     FOR KEY SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'upstream % does not exist in group %', v_upstream, v_group
      USING ERRCODE = 'no_data_found';
  END IF;

  SELECT p.relative_path, p.digest INTO v_rel, v_path_digest
    FROM @extschema@.parse_request_path(v_path, @extschema@.is_docker_hub_url(v_url)) p;
  IF v_etag IS NOT NULL THEN
    v_etag_digest := @extschema@.etag_digest(v_etag);
  END IF;
  IF v_path_digest IS NOT NULL AND v_etag_digest IS NOT NULL
     AND v_etag_digest <> v_path_digest THEN
    RAISE EXCEPTION 'upstream etag names digest % but the path names digest %',
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
            v_file, v_key, v_type, v_md5, v_sha1, coalesce(v_path_digest, v_etag_digest))
    ON CONFLICT (group_id, upstream_id, relative_path) WHERE status = 0
    DO UPDATE SET upstream_checked_at = now(),
                  upstream_etag = EXCLUDED.upstream_etag,
                  size = EXCLUDED.size,
                  file = EXCLUDED.file,
                  content_type = EXCLUDED.content_type,
                  file_md5 = EXCLUDED.file_md5,
                  file_sha1 = EXCLUDED.file_sha1,
                  digest = EXCLUDED.digest
       WHERE v_given_key IS NULL OR e.object_storage_key = EXCLUDED.object_storage_key
    RETURNING e.* INTO v_row;
    IF FOUND THEN
      RETURN v_row;
    END IF;
    -- The live entry (locked by the statement above) has another key.
    UPDATE @extschema@.cache_entries e
       SET status = 2
     WHERE e.group_id = v_group AND e.upstream_id = v_upstream
       AND e.relative_path = v_rel AND e.status = 0
       AND e.object_storage_key <> v_key;
  END LOOP;
  RAISE EXCEPTION 'could not replace the live cache entry of upstream % for % after 10 attempts',
    v_upstream, v_rel
    USING ERRCODE = 'serialization_failure',
          HINT = 'Other sessions keep storing this path with other object-storage keys; retry.';
END
$$;
COMMENT ON FUNCTION @extschema@.upsert_cache_entry(bigint, bigint, text, bigint, text, bytea, text, text, bytea, text) IS
  'upsert_cache_entry(group_id bigint, upstream_id bigint, path text, size bigint (bytes), file text, file_sha1 bytea (20 bytes), content_type text DEFAULT NULL, upstream_etag text DEFAULT NULL, file_md5 bytea DEFAULT NULL (16 bytes), object_storage_key text DEFAULT NULL) -> the live cache_entries row. Called after a fetch: inserts or updates the live entry of (group, upstream, canonical path) and sets upstream_checked_at = now(). Docker Hub upstreams store a one-component name x as library/x. digest comes from the path (digest references) or, for a tag manifest, from an ETag that is a digest once W/ and double quotes are stripped. content_type NULL means application/octet-stream, otherwise kept exactly. A NULL key generates <object_storage_prefix(group_id)>upstreams/<upstream_id>/<random uuid>; an existing live entry keeps its key; a given key that differs from the live entry''s marks that entry pending destruction (status 2) and inserts a new live entry with the given key. Any number of concurrent callers leave exactly one live row and get no error (in READ COMMITTED). Errors: 22004 NULL required argument; 22023 bad path, an ETag digest that contradicts the path''s digest, size outside 0..1 TiB, file_sha1 not 20 bytes, file_md5 not 16 bytes, or a key outside the group''s prefix; P0002 upstream unknown or of another group; 23514 another column limit (file, content type, ETag length, characters of a key); 23505 a given key already used by another entry of the group. Rule: DESIGN section 5, issue 6 item 4.';

-- parse_request_path: a one-component Docker Hub name is at most 247
-- characters, so that library/<name> fits the 255-character limit (found by
-- fuzzing; the C parser enforces it).
COMMENT ON FUNCTION @extschema@.parse_request_path(text, boolean) IS
  'parse_request_path(path text, docker_hub boolean DEFAULT false) -> (relative_path text, kind text, digest text). Validates a request path under /v2/ (leading slash optional) by the OCI distribution grammar: <name>/manifests/<tag or digest> or <name>/blobs/<digest>, split at the last two components; name = lowercase components [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* separated by /, at most 255 characters (with docker_hub, a one-component name at most 247, so that library/<name> fits 255); tag [A-Za-z0-9_][A-Za-z0-9._-]{0,127}; digest sha256:<64 lowercase hex> or sha512:<128 lowercase hex>; at most 1024 characters. Returns the canonical relative_path (leading slash; library/ prepended to a one-component name when docker_hub), kind (tag_manifest, digest_manifest or blob) and the digest (NULL for a tag). Errors: 22023 naming the problem (the same error resolve and upsert_cache_entry raise). NULL in, NULL out. Rule: DESIGN section 5, issue 6 item 4.';

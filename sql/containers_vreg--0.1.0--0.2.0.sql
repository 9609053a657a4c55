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
  AS $$ SELECT 'groups/' OPERATOR(pg_catalog.||) $1::pg_catalog.text OPERATOR(pg_catalog.||) '/' $$;

-- Leases longer than a year are refused (22023) instead of overflowing the
-- timestamp later (22008).
CREATE OR REPLACE FUNCTION @extschema@.lifecycle_check_lease(lease interval)
RETURNS void LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(lease, 'lease');
  IF lease <= interval '0' OR lease > interval '1 year' THEN
    RAISE EXCEPTION 'lease must be positive and at most 1 year, not %', lease
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass an interval such as ''30 seconds'' or ''1 hour''.';
  END IF;
END $$;
COMMENT ON FUNCTION @extschema@.lifecycle_check_lease(interval) IS
  'Internal: raises 22004 for a NULL lease and 22023 for a lease that is not positive or longer than 1 year.';

COMMENT ON FUNCTION @extschema@.claim_for_destruction(integer, interval) IS
  'claim_for_destruction(batch integer, lease interval DEFAULT ''1 hour'') -> setof (group_id bigint, entry_id bigint, object_storage_key text, file text, size bigint). Claims up to batch entries of any group for deletion, oldest first: pending ones (status 2) and processing ones (status 1) whose claim is older than lease (the worker died), sets them to processing and returns their object-storage keys. Rows locked by another claimer are skipped (FOR UPDATE SKIP LOCKED), so two workers never get the same entry. A live entry is never claimed, and since object_storage_key is unique per group and never changes, no returned key is used by a live entry. The caller deletes each object, then calls finish_destruction (or fail_destruction). Errors: 22023 for batch < 1 or a lease that is not positive or longer than 1 year; 22004 for NULL. Rule: DESIGN section 5 (lifecycle), issue 6.';
COMMENT ON FUNCTION @extschema@.claim_fetch(bigint, bigint, text, interval) IS
  'claim_fetch(group_id bigint, upstream_id bigint, path text, lease interval DEFAULT ''30 seconds'') -> boolean. Call after resolve missed, in its own short transaction: true to exactly one of many concurrent callers for the same (upstream, path), who then fetches from the upstream and upserts the entry; false to the others (wait and resolve again), and false when a live entry for the path already exists. The lease ends when a live entry for the path is inserted or when lease has passed (then the next caller gets true). path is the request path under /v2/, with or without the leading slash, normalised exactly as upsert_cache_entry stores it (parse_request_path; for a Docker Hub upstream a one-component name x is library/x), so the lease is keyed by the stored relative_path. Errors: P0002 for an upstream that does not exist in the group; 22023 for a bad path (the same error as parse_request_path, resolve and upsert_cache_entry) or a lease that is not positive or longer than 1 year; 22004 for NULL. Rule: DESIGN section 5 (one fetch per cold path), issue 6.';

-- parse_request_path: a one-component Docker Hub name is at most 247
-- characters, so that library/<name> fits the 255-character limit (found by
-- fuzzing; the C parser enforces it).
COMMENT ON FUNCTION @extschema@.parse_request_path(text, boolean) IS
  'parse_request_path(path text, docker_hub boolean DEFAULT false) -> (relative_path text, kind text, digest text). Validates a request path under /v2/ (leading slash optional) by the OCI distribution grammar: <name>/manifests/<tag or digest> or <name>/blobs/<digest>, split at the last two components; name = lowercase components [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* separated by /, at most 255 characters (with docker_hub, a one-component name at most 247, so that library/<name> fits 255); tag [A-Za-z0-9_][A-Za-z0-9._-]{0,127}; digest sha256:<64 lowercase hex> or sha512:<128 lowercase hex>; at most 1024 characters. Returns the canonical relative_path (leading slash; library/ prepended to a one-component name when docker_hub), kind (tag_manifest, digest_manifest or blob) and the digest (NULL for a tag). Errors: 22023 naming the problem (the same error resolve and upsert_cache_entry raise). NULL in, NULL out. Rule: DESIGN section 5, issue 6 item 4.';

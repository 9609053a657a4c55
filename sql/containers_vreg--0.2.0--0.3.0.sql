-- containers_vreg 0.2.0 -> 0.3.0 (security and correctness release).
-- Every change to sql/install/ since 0.2.0 is repeated here; test/scripts/upgrade.sh
-- checks that 0.2.0 (and 0.1.0) plus the update scripts define every extension
-- member exactly as a fresh 0.3.0 install does.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION containers_vreg UPDATE TO '0.3.0'" to load this file. \quit

-- upsert_cache_entry: a NULL content_type on an update keeps the stored media
-- type (a known manifest type was downgraded to application/octet-stream, and
-- clients then refused the manifest); an entry that replaces the live one
-- under a new key keeps its type too. Only a new entry gets the default.
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
  -- NULL: the live entry's type stays (an update must never downgrade a
  -- known media type to application/octet-stream); a new path gets that default.
  v_type       text := $7;
  v_prev_type  text;
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
            v_file, v_key, coalesce(v_type, v_prev_type, 'application/octet-stream'),
            v_md5, v_sha1, coalesce(v_path_digest, v_etag_digest))
    ON CONFLICT (group_id, upstream_id, relative_path) WHERE status = 0
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
       SET status = 2
     WHERE e.group_id = v_group AND e.upstream_id = v_upstream
       AND e.relative_path = v_rel AND e.status = 0
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
  'upsert_cache_entry(group_id bigint, upstream_id bigint, path text, size bigint (bytes), file text, file_sha1 bytea (20 bytes), content_type text DEFAULT NULL, upstream_etag text DEFAULT NULL, file_md5 bytea DEFAULT NULL (16 bytes), object_storage_key text DEFAULT NULL) -> the live cache_entries row. Called after a fetch: inserts or updates the live entry of (group, upstream, canonical path) and sets upstream_checked_at = now(). Docker Hub upstreams store a one-component name x as library/x. digest comes from the path (digest references) or, for a tag manifest, from an ETag that is a digest once W/ and double quotes are stripped. content_type is stored exactly as given; NULL keeps the media type of the live entry being updated (or replaced under a new key), so a known type such as application/vnd.oci.image.index.v1+json is never downgraded, and only a new entry gets application/octet-stream. upstream_etag, the digest taken from it and file_md5 describe the file just stored, so NULL stores NULL (the previous file''s ETag or checksum would be wrong for the new one; a tag manifest fetched without an ETag has no digest). A NULL key generates <object_storage_prefix(group_id)>upstreams/<upstream_id>/<random uuid>; an existing live entry keeps its key (NULL never changes a key); a given key that differs from the live entry''s marks that entry pending destruction (status 2) and inserts a new live entry with the given key. Any number of concurrent callers leave exactly one live row and get no error (in READ COMMITTED). Errors: 22004 NULL required argument; 22023 bad path, an ETag digest that contradicts the path''s digest, size outside 0..1 TiB, file_sha1 not 20 bytes, file_md5 not 16 bytes, or a key outside the group''s prefix; P0002 upstream unknown or of another group; 23514 another column limit (file, content type, ETag length, characters of a key); 23505 a given key already used by another entry of the group. Rule: one live entry per (group, upstream, canonical path), whichever form of a Docker Hub name the caller used.';

-- Text that an index holds is limited in bytes, as a btree entry is: a raw
-- INSERT of 1023 four-byte characters passed the old character limit and then
-- failed in the index (54000). relative_path and object_storage_key are at
-- most 1024 bytes, in cache_entries and in fetch_leases. Existing rows are
-- checked: a row over the limit can only come from a raw INSERT (the API
-- writes printable ASCII) and makes the update fail naming the constraint.
-- (The whole update is one transaction that holds ACCESS EXCLUSIVE from the
-- DROP CONSTRAINT on, so ADD ... NOT VALID plus VALIDATE would scan the same
-- rows under the same lock; the constraints are added valid, as a fresh
-- install has them.)
ALTER TABLE @extschema@.cache_entries
  DROP CONSTRAINT cache_entries_relative_path_check,
  ADD CONSTRAINT cache_entries_relative_path_check
    CHECK (octet_length(relative_path) BETWEEN 1 AND 1024 AND left(relative_path, 1) = '/'),
  DROP CONSTRAINT cache_entries_object_storage_key_check,
  ADD CONSTRAINT cache_entries_object_storage_key_check
    CHECK (octet_length(object_storage_key) <= 1024
           AND starts_with(object_storage_key, @extschema@.object_storage_prefix(group_id))
           AND octet_length(object_storage_key) > octet_length(@extschema@.object_storage_prefix(group_id))
           AND object_storage_key ~ '^[A-Za-z0-9!_.*''()/-]+$'
           AND object_storage_key !~ '(^|/)\.\.?(/|$)'
           AND object_storage_key !~ '//'
           AND right(object_storage_key, 1) <> '/');
ALTER TABLE @extschema@.fetch_leases
  ADD CONSTRAINT fetch_leases_relative_path_check
    CHECK (octet_length(relative_path) BETWEEN 1 AND 1024 AND left(relative_path, 1) = '/');
COMMENT ON COLUMN @extschema@.cache_entries.relative_path IS
  'Request path under /v2/ with a leading slash: /library/alpine/manifests/3.21, /library/alpine/blobs/sha256:... At most 1024 bytes (a btree entry is limited in bytes); printable ASCII when written through the API.';
COMMENT ON FUNCTION @extschema@.parse_request_path(text, boolean) IS
  'parse_request_path(path text, docker_hub boolean DEFAULT false) -> (relative_path text, kind text, digest text). Validates a request path under /v2/ (leading slash optional) by the OCI distribution grammar: <name>/manifests/<tag or digest> or <name>/blobs/<digest>, split at the last two components; name = lowercase components [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* separated by /, at most 255 characters (with docker_hub, a one-component name at most 247, so that library/<name> fits 255); tag [A-Za-z0-9_][A-Za-z0-9._-]{0,127}; digest sha256:<64 lowercase hex> or sha512:<128 lowercase hex>; printable ASCII, at most 1024 bytes (the byte limit of cache_entries.relative_path). Returns the canonical relative_path (leading slash; library/ prepended to a one-component name when docker_hub), kind (tag_manifest, digest_manifest or blob) and the digest (NULL for a tag). Errors: 22023 naming the problem (the same error resolve and upsert_cache_entry raise). NULL in, NULL out. Rule: the OCI distribution grammar, and one cache key per image on Docker Hub (alpine is library/alpine).';

-- compact_usage and rebuild_usage took their per-group lock with
-- pg_advisory_xact_lock(30292, ...), in the application's lock space, where an
-- application's own advisory lock on the same numbers collided with it. The
-- lock is now taken in the extension's private lock space by lock_group_usage.
CREATE FUNCTION @extschema@.lock_group_usage(group_id bigint) RETURNS void
  AS 'MODULE_PATHNAME', 'containers_vreg_lock_group_usage'
  LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.lock_group_usage(bigint) IS
  'Internal: lock_group_usage(group_id bigint) -> void. Takes the exclusive lock, held to the end of the transaction, that serialises compact_usage and rebuild_usage of one group. The lock is in the extension''s private advisory lock space (pg_locks: locktype advisory, classid and objid the high and low 32 bits of group_id, objsubid 30292), which pg_advisory_lock() and pg_advisory_xact_lock() cannot take, so an application''s advisory locks never wait for it or block it. Errors: 22004 for NULL.';
REVOKE ALL ON FUNCTION @extschema@.lock_group_usage(bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.compact_usage(group_id bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  g bigint;
  n bigint;
  total bigint := 0;
BEGIN
  FOR g IN SELECT DISTINCT d.group_id FROM @extschema@.usage_deltas d
            WHERE compact_usage.group_id IS NULL OR d.group_id = compact_usage.group_id
            ORDER BY 1
  LOOP
    PERFORM @extschema@.lock_group_usage(g);
    WITH gone AS (
      DELETE FROM @extschema@.usage_deltas d WHERE d.group_id = g
      RETURNING d.*
    ), folded AS (
      INSERT INTO @extschema@.usage_deltas
      SELECT gone.group_id, gone.upstream_id, sum(gone.live_entries), sum(gone.live_bytes),
             sum(gone.pending_entries), sum(gone.pending_bytes)
        FROM gone GROUP BY gone.group_id, gone.upstream_id
      HAVING sum(gone.live_entries) <> 0 OR sum(gone.live_bytes) <> 0
          OR sum(gone.pending_entries) <> 0 OR sum(gone.pending_bytes) <> 0
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM folded) INTO n;
    total := total + n;
  END LOOP;
  RETURN total;
END $$;
COMMENT ON FUNCTION @extschema@.compact_usage(bigint) IS
  'compact_usage(group_id bigint DEFAULT NULL) -> bigint. Folds the usage deltas of one group (NULL: every group) into one row per upstream (none when it sums to zero) and returns how many rows it removed. Totals do not change; concurrent writers are not blocked. Per group it waits only for a concurrent rebuild_usage of that group (lock_group_usage, in the extension''s private lock space, never an application''s advisory lock). Run it periodically (e.g. every few minutes in the destruction worker loop) so group_usage stays cheap. No errors. Rule: usage counters are maintained without a hot row and read at constant cost.';
REVOKE ALL ON FUNCTION @extschema@.compact_usage(bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.rebuild_usage(group_id bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  g bigint;
  groups bigint := 0;
BEGIN
  FOR g IN SELECT c.group_id FROM @extschema@.cache_entries c
            WHERE rebuild_usage.group_id IS NULL OR c.group_id = rebuild_usage.group_id
           UNION
           SELECT d.group_id FROM @extschema@.usage_deltas d
            WHERE rebuild_usage.group_id IS NULL OR d.group_id = rebuild_usage.group_id
           ORDER BY 1
  LOOP
    PERFORM @extschema@.lock_group_usage(g);
    -- One statement, one snapshot: a delta is deleted exactly when the entry
    -- change it describes is visible to the recount.
    WITH gone AS (
      DELETE FROM @extschema@.usage_deltas d WHERE d.group_id = g
    )
    INSERT INTO @extschema@.usage_deltas
    SELECT c.group_id, c.upstream_id,
           count(*) FILTER (WHERE c.status = 0), coalesce(sum(c.size) FILTER (WHERE c.status = 0), 0),
           count(*) FILTER (WHERE c.status <> 0), coalesce(sum(c.size) FILTER (WHERE c.status <> 0), 0)
      FROM @extschema@.cache_entries c
     WHERE c.group_id = g
     GROUP BY c.group_id, c.upstream_id;
    groups := groups + 1;
  END LOOP;
  RETURN groups;
END $$;
COMMENT ON FUNCTION @extschema@.rebuild_usage(bigint) IS
  'rebuild_usage(group_id bigint DEFAULT NULL) -> bigint. Recomputes the usage counters of one group (NULL: every group) from cache_entries and returns how many groups it rebuilt. Run it after a restore made with triggers disabled (pg_restore --disable-triggers, session_replication_role = replica) or after truncating a single partition; it is always safe to run. Scans the group''s entries. Per group it waits only for a concurrent compact_usage or rebuild_usage of that group (lock_group_usage, in the extension''s private lock space, never an application''s advisory lock). No errors. Rule: derived state is rebuilt, not dumped.';

-- cache_entry_partition() requires SELECT on cache_entries before it locks the
-- table (as hash_partition_for() does); its comment names the new 42501.
COMMENT ON FUNCTION @extschema@.cache_entry_partition(bigint) IS
  'cache_entry_partition(group_id bigint) -> regclass. The partition of containers_vreg.cache_entries that PostgreSQL itself routes a row with this group_id to, computed in C from the table''s real partition key and bounds (the key''s hash support function with HASH_PARTITION_SEED, then the bound lookup of get_partition_for_tuple), so it stays right after the partitions are changed (another modulus, mixed moduli). NULL in, NULL out. Cached per backend, dropped on relcache invalidation of the table. Errors: 42501 without SELECT privilege on cache_entries (checked before the table is locked, so a role that may not read it cannot hold a lock on it); 23514 when no partition accepts the group (as an INSERT would fail, e.g. a partition was detached); 0A000 when the chosen partition is itself partitioned.';

-- registries_limit() counts as the table's owner (row-level security not
-- applied): its comment, set with the trigger check below, says so.

-- ---------------------------------------------------------------------------
-- Trigger functions fire only as the extension's own triggers.
-- Any role could attach a trigger function of the extension (some are
-- SECURITY DEFINER) to a table of its own: the credentials trigger then
-- computed fingerprints and sealed envelopes for any (group, id) with the
-- owner's rights. Now every trigger function checks its relation (its own
-- table or a partition of it), timing, level and event first (39P01), and
-- none is executable by PUBLIC (a trigger fires without EXECUTE).
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.check_trigger_context(trigger_function text, relid oid, tg_when text, tg_level text, tg_op text)
RETURNS void
  AS 'MODULE_PATHNAME', 'containers_vreg_check_trigger_context'
  LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.check_trigger_context(text, oid, text, text, text) IS
  'check_trigger_context(trigger_function text, relid oid, tg_when text, tg_level text, tg_op text) -> void. Internal: the first statement of every PL/pgSQL trigger function of the extension, called with its own name and TG_RELID, TG_WHEN, TG_LEVEL, TG_OP. Returns nothing when trigger_function is fired as the trigger the extension defines for it: relid is its table in this schema or a partition of that table (at any depth), and timing, level and event are the ones it is made for. Errors, all SQLSTATE 39P01 (trigger_protocol_violated): another relation (the message names it and the detail the table, timing, level and events it is made for); another timing, level or event; an unknown trigger_function; a NULL argument or a word that is not a TG_WHEN, TG_LEVEL or TG_OP value. Not executable by PUBLIC. Rule: a trigger function of the extension, some of them SECURITY DEFINER, acts only in the triggers the extension creates, never on a relation of someone else''s choosing.';
REVOKE ALL ON FUNCTION @extschema@.check_trigger_context(text, oid, text, text, text) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.row_guard() IS
  'Trigger (internal): BEFORE UPDATE row trigger on registries, upstreams, registry_upstreams and cache_entries that sets updated_at = now() and refuses (SQLSTATE 23514) a change of group_id or of any column named in the trigger arguments. Rule: group_id never changes, and updated_at moves on every update. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
REVOKE ALL ON FUNCTION @extschema@.row_guard() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.registries_limit() IS
  'Trigger (internal): BEFORE INSERT row trigger on registries refusing (SQLSTATE 23514) a 6th registry in a group. Serialises inserts per group with a transaction-level advisory lock and counts with the latest snapshot, so it holds under any isolation level; counts as the table''s owner without row-level security, so the inserting role needs no SELECT and no policy can hide rows from the count. Rule: at most 5 registries per top-level group, as GitLab''s container registry allows. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
REVOKE ALL ON FUNCTION @extschema@.registries_limit() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.cache_entries_status_guard() IS
  'Trigger (internal): BEFORE UPDATE OF status row trigger on cache_entries refusing (SQLSTATE 23514) a change from a non-live status (1 processing, 2 pending destruction, 3 error) back to 0 (live): the object may already be deleted. Rule: no live entry''s file is ever deleted, so an entry that left the live state never returns to it. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
REVOKE ALL ON FUNCTION @extschema@.cache_entries_status_guard() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.positions_before_insert() IS
  'Trigger (internal): BEFORE INSERT row trigger on registry_upstreams. Locks the registry row, refuses a 6th link (SQLSTATE 23514), appends a link without position at max + 1, keeps a free explicit position, and for a taken one moves the run of links at and after it down one place. Rule: the positions of a registry''s links are 1..n at every commit. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
REVOKE ALL ON FUNCTION @extschema@.positions_before_insert() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.positions_before_update() IS
  'Trigger (internal): BEFORE UPDATE row trigger on registry_upstreams. When position changes: locks the registry row, refuses a position below 1 (SQLSTATE 22023) and caps one beyond the number of links n at n, as move_upstream does. Rule: the positions of a registry''s links are 1..n at every commit. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
REVOKE ALL ON FUNCTION @extschema@.positions_before_update() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.positions_after_update() IS
  'Trigger (internal): AFTER UPDATE statement trigger on registry_upstreams. In every registry where the statement changed the position of exactly one link, the links in between shift by one place (a move); several changed links of one registry are taken as given. Rule: the positions of a registry''s links are 1..n at every commit. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
REVOKE ALL ON FUNCTION @extschema@.positions_after_update() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.positions_after_delete() IS
  'Trigger (internal): AFTER DELETE statement trigger on registry_upstreams (also for the cascades from a deleted upstream or registry). Locks the affected registries in id order; every remaining link moves up by the number of deleted links before it. Rule: the positions of a registry''s links are 1..n at every commit. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
REVOKE ALL ON FUNCTION @extschema@.positions_after_delete() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.positions_check() IS
  'Trigger (internal): deferred constraint trigger on registry_upstreams. At commit the positions of every touched registry are exactly 1..n, n <= 5; otherwise SQLSTATE 23514 naming the registry and the positions found. Rule: the positions of a registry''s links are exactly 1..n at every commit. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
REVOKE ALL ON FUNCTION @extschema@.positions_check() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.upstreams_lock_registries() IS
  'Trigger (internal): BEFORE DELETE row trigger on upstreams. Locks the rows of the registries the upstream is linked to, in id order, before its links cascade. Rule: deleting an upstream locks its registries in id order first, so concurrent changes wait for each other instead of deadlocking. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
REVOKE ALL ON FUNCTION @extschema@.upstreams_lock_registries() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.upstreams_credentials() IS
  'Trigger (internal): BEFORE INSERT OR UPDATE row trigger on upstreams. Plaintext {"username","password"} is validated (22023: unknown key, non-string, over 510 characters, one without the other, non-object; the message lists the accepted keys and never a value), sealed with XChaCha20-Poly1305 under the highest key of the keyring and bound to (group_id, id); NULL, {} and empty strings store NULL. An envelope {"v","kid","nonce","ct"} supplied as it is (restore, COPY) is checked for structure (22023) and stored unchanged with its credentials_fingerprint. credentials_fingerprint = keyed BLAKE2b of the canonical plaintext (empty when none). An UPDATE that changes url without supplying credentials clears them; credentials_fingerprint cannot change on its own (428C9). Keyring errors: 55000, 58P01, 42501, F0000. SECURITY DEFINER to read and create the fingerprint secret. Rule: credentials are stored only sealed and bound to their row, and no two upstreams of a group have the same url and the same credentials. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
REVOKE ALL ON FUNCTION @extschema@.upstreams_credentials() FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.upstreams_mark_entries() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.check_trigger_context('upstreams_mark_entries', TG_RELID, TG_WHEN, TG_LEVEL, TG_OP);
  UPDATE @extschema@.cache_entries e SET status = 2
   WHERE e.group_id = OLD.group_id AND e.upstream_id = OLD.id AND e.status = 0;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION @extschema@.upstreams_mark_entries() IS
  'Trigger (internal): AFTER DELETE row trigger on upstreams that marks every live cache entry of the deleted upstream pending destruction (status 0 -> 2) in the same transaction. Rule: cache_entries has no foreign key to upstreams; deleting an upstream marks its entries for destruction instead. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';

CREATE OR REPLACE FUNCTION @extschema@.cache_entries_release_fetch_lease() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.check_trigger_context('cache_entries_release_fetch_lease', TG_RELID, TG_WHEN, TG_LEVEL, TG_OP);
  DELETE FROM @extschema@.fetch_leases l
   WHERE l.group_id = NEW.group_id AND l.upstream_id = NEW.upstream_id
     AND l.relative_path = NEW.relative_path;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION @extschema@.cache_entries_release_fetch_lease() IS
  'Trigger (internal): AFTER INSERT row trigger on cache_entries (live rows only) that releases the fetch lease of the entry''s (upstream, relative_path). Rule: one fetch per cold path. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';

CREATE OR REPLACE FUNCTION @extschema@.cache_entries_track_usage() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.check_trigger_context('cache_entries_track_usage', TG_RELID, TG_WHEN, TG_LEVEL, TG_OP);
  IF TG_OP = 'UPDATE' AND OLD.upstream_id = NEW.upstream_id THEN
    INSERT INTO @extschema@.usage_deltas VALUES (
      NEW.group_id, NEW.upstream_id,
      (NEW.status = 0)::integer - (OLD.status = 0)::integer,
      CASE WHEN NEW.status = 0 THEN NEW.size ELSE 0 END - CASE WHEN OLD.status = 0 THEN OLD.size ELSE 0 END,
      (NEW.status <> 0)::integer - (OLD.status <> 0)::integer,
      CASE WHEN NEW.status <> 0 THEN NEW.size ELSE 0 END - CASE WHEN OLD.status <> 0 THEN OLD.size ELSE 0 END);
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO @extschema@.usage_deltas VALUES (
      OLD.group_id, OLD.upstream_id,
      -(OLD.status = 0)::integer, CASE WHEN OLD.status = 0 THEN -OLD.size ELSE 0 END,
      -(OLD.status <> 0)::integer, CASE WHEN OLD.status <> 0 THEN -OLD.size ELSE 0 END);
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    INSERT INTO @extschema@.usage_deltas VALUES (
      NEW.group_id, NEW.upstream_id,
      (NEW.status = 0)::integer, CASE WHEN NEW.status = 0 THEN NEW.size ELSE 0 END,
      (NEW.status <> 0)::integer, CASE WHEN NEW.status <> 0 THEN NEW.size ELSE 0 END);
  END IF;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION @extschema@.cache_entries_track_usage() IS
  'Trigger (internal): AFTER INSERT/DELETE, and AFTER UPDATE of status, size or upstream_id, row trigger on cache_entries that appends the change to usage_deltas. Row-level, so rows inserted straight into a partition (as pg_restore does) are counted too. Rule: the usage counters always equal what the entries add up to. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';

CREATE OR REPLACE FUNCTION @extschema@.cache_entries_truncate_usage() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.check_trigger_context('cache_entries_truncate_usage', TG_RELID, TG_WHEN, TG_LEVEL, TG_OP);
  TRUNCATE @extschema@.usage_deltas;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION @extschema@.cache_entries_truncate_usage() IS
  'Trigger (internal): AFTER TRUNCATE statement trigger on cache_entries that empties usage_deltas. Rule: the usage counters always equal what the entries add up to. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';

-- ---------------------------------------------------------------------------
-- reset_credentials_secret(): the way out when the fingerprint secret does
-- not open (a restore onto a server whose keyring has other keys locked every
-- write of credentials).
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.reset_credentials_secret(dry_run boolean DEFAULT true)
RETURNS TABLE (group_id bigint, upstream_id bigint, key_id integer, action text, detail text)
  AS 'MODULE_PATHNAME', 'containers_vreg_reset_credentials_secret'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.reset_credentials_secret(boolean) IS
  'reset_credentials_secret(dry_run boolean DEFAULT true) -> setof (group_id bigint, upstream_id bigint, key_id integer, action text, detail text). The way out when the credentials fingerprint secret does not open under the current keyring (after a restore onto a server whose keyring has other keys every write of credentials fails with 22000 or 55000, and rotate_credentials() has nothing to do). Replaces the secret with a fresh one sealed under the keyring''s sealing (highest) key. Every upstream whose envelope opens under the current keyring keeps its credentials, re-sealed under the sealing key, with its fingerprint computed under the new secret (action ''recomputed''); every envelope that no key opens is cleared: credentials NULL, fingerprint empty (action ''cleared''; detail says why: the key is not in the keyring, the envelope does not authenticate, or it is malformed). The first row (group_id and upstream_id NULL, action ''replaced'') tells what became of the old secret and which key seals the new one; then one row per upstream with credentials in (group_id, upstream_id) order, key_id being the key its envelope was sealed under. With dry_run true (the default) it only reports; with false it applies everything in one statement, all or nothing, under SHARE ROW EXCLUSIVE locks on upstreams and credentials_secret. Errors: 23505 when afterwards two upstreams of a group would have the same url and the same credentials (or both none): the message names both and nothing is changed (a dry run reports them as action ''conflict''); 22004 dry_run NULL; 55000 no keyring configured; 58P01/42501/F0000 keyring file missing, unreadable or malformed. Not executable by PUBLIC: the extension owner or a superuser runs it. Rule: fingerprints compare only under one secret, so a new secret means every fingerprint is computed again, and credentials that no key opens can never be used and are removed rather than kept.';
REVOKE ALL ON FUNCTION @extschema@.reset_credentials_secret(boolean) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- containers_vreg.allow_local_upstreams: the local-network rule moves from the
-- CHECK constraint (which must not depend on a setting) to a trigger; the
-- CHECK keeps every rule that holds whatever the setting.
-- ---------------------------------------------------------------------------
ALTER TABLE @extschema@.upstreams DROP CONSTRAINT upstreams_url_rules_check;
DROP FUNCTION @extschema@.check_upstream_url(text);
CREATE FUNCTION @extschema@.check_upstream_url(url text, allow_local boolean DEFAULT false)
  RETURNS boolean
  AS 'MODULE_PATHNAME', 'containers_vreg_check_upstream_url'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.check_upstream_url(text, boolean) IS
  'check_upstream_url(url text, allow_local boolean DEFAULT false) -> boolean. Returns true for an acceptable upstream URL; otherwise raises SQLSTATE 23514 (check_violation) with a message naming the problem: scheme other than http/https, missing or malformed host, userinfo, bad port, whitespace or control characters, or a host that is localhost or a loopback / private / link-local / unspecified / multicast / reserved address, in any encoding (decimal 2130706433, hex 0x7f.1, octal, IPv4-mapped IPv6 [::ffff:127.0.0.1]). With allow_local true, localhost, loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10) and shared (100.64/10) hosts are accepted; link-local (cloud metadata), unspecified, multicast and reserved never are. Immutable: depends on its arguments only. The CHECK constraint on upstreams.url calls it with allow_local true; the trigger upstreams_url_network applies the setting containers_vreg.allow_local_upstreams. NULL in, NULL out. The database cannot resolve DNS: the service must re-check the resolved address at connect time.';
ALTER TABLE @extschema@.upstreams
  ADD CONSTRAINT upstreams_url_rules_check CHECK (@extschema@.check_upstream_url(url, true));

CREATE FUNCTION @extschema@.upstreams_url_network() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_upstreams_url_network'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.upstreams_url_network() IS
  'Trigger (internal): BEFORE INSERT OR UPDATE OF url row trigger on upstreams refusing (SQLSTATE 23514, the message of check_upstream_url) a url whose host is localhost, loopback, private or shared address space unless the setting containers_vreg.allow_local_upstreams (superuser-only, off by default) is on. An UPDATE that leaves url unchanged is not checked again. A superuser session with check_function_bodies = off (what pg_dump scripts and pg_restore set) is a restore and is let through, so a dump with local upstreams restores on a server with the setting off. It fires only as the trigger the extension defines for it (on that table, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
REVOKE ALL ON FUNCTION @extschema@.upstreams_url_network() FROM PUBLIC;
CREATE TRIGGER upstreams_url_network BEFORE INSERT OR UPDATE OF url ON @extschema@.upstreams
  FOR EACH ROW EXECUTE FUNCTION @extschema@.upstreams_url_network();

-- ---------------------------------------------------------------------------
-- The miss path of a real registry service: begin_fetch (lease + fresh object
-- key), release_fetch, store_cache_entry (digest from Docker-Content-Digest,
-- download counted in the same call), and a url change that takes the
-- upstream's entries out of service.
CREATE FUNCTION @extschema@.begin_fetch(group_id bigint, upstream_id bigint, path text,
                                        replacing bigint DEFAULT NULL,
                                        lease interval DEFAULT '30 seconds')
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_url text;
  rel_path text;
  won boolean;
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(path, 'path');
  PERFORM @extschema@.lifecycle_check_lease(lease);
  PERFORM @extschema@.lifecycle_check_upstream(group_id, upstream_id);
  SELECT u.url INTO v_url FROM @extschema@.upstreams u
   WHERE u.group_id = begin_fetch.group_id AND u.id = begin_fetch.upstream_id;
  SELECT p.relative_path INTO rel_path
    FROM @extschema@.parse_request_path(path, @extschema@.is_docker_hub_url(v_url)) p;
  INSERT INTO @extschema@.fetch_leases AS l (group_id, upstream_id, relative_path, leased_until)
  VALUES (begin_fetch.group_id, begin_fetch.upstream_id, rel_path, pg_catalog.clock_timestamp() + lease)
  ON CONFLICT ON CONSTRAINT fetch_leases_pkey DO UPDATE
     SET leased_until = EXCLUDED.leased_until
   WHERE l.leased_until < pg_catalog.clock_timestamp()
  RETURNING true INTO won;
  IF won IS NULL THEN
    RETURN NULL;
  END IF;
  -- Stored meanwhile (or, when replacing a stale entry, replaced meanwhile):
  -- nothing to fetch; resolve again.
  PERFORM FROM @extschema@.cache_entries c
   WHERE c.group_id = begin_fetch.group_id AND c.upstream_id = begin_fetch.upstream_id
     AND c.relative_path = rel_path AND c.status = 0
     AND c.id IS DISTINCT FROM replacing;
  IF FOUND THEN
    DELETE FROM @extschema@.fetch_leases l
     WHERE l.group_id = begin_fetch.group_id AND l.upstream_id = begin_fetch.upstream_id
       AND l.relative_path = rel_path;
    RETURN NULL;
  END IF;
  RETURN @extschema@.object_storage_prefix(group_id) OPERATOR(pg_catalog.||) 'upstreams/'
         OPERATOR(pg_catalog.||) upstream_id::text OPERATOR(pg_catalog.||) '/'
         OPERATOR(pg_catalog.||) pg_catalog.gen_random_uuid()::text;
END $$;
COMMENT ON FUNCTION @extschema@.begin_fetch(bigint, bigint, text, bigint, interval) IS
  'begin_fetch(group_id bigint, upstream_id bigint, path text, replacing bigint DEFAULT NULL, lease interval DEFAULT ''30 seconds'') -> text. Call when resolve missed (or a stale tag changed upstream) before fetching from that upstream. Leases the fetch of the path (normalised as upsert_cache_entry stores it) and returns a fresh object-storage key, <object_storage_prefix(group_id)>upstreams/<upstream_id>/<random uuid>, under which the caller writes the object before store_cache_entry makes it live; NULL to every other concurrent caller (wait, then resolve again) and NULL when a live entry for the path exists, unless it is the entry given as replacing (the stale entry being re-fetched). The lease ends when a live entry for the path is stored, when release_fetch gives it back, or when lease has passed. Errors: P0002 unknown upstream; 22023 bad path or a lease not positive or over 365 days; 22004 NULL group_id, upstream_id, path or lease.';
REVOKE ALL ON FUNCTION @extschema@.begin_fetch(bigint, bigint, text, bigint, interval) FROM PUBLIC;

CREATE FUNCTION @extschema@.release_fetch(group_id bigint, upstream_id bigint, path text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_url text;
  rel_path text;
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(path, 'path');
  PERFORM @extschema@.lifecycle_check_upstream(group_id, upstream_id);
  SELECT u.url INTO v_url FROM @extschema@.upstreams u
   WHERE u.group_id = release_fetch.group_id AND u.id = release_fetch.upstream_id;
  SELECT p.relative_path INTO rel_path
    FROM @extschema@.parse_request_path(path, @extschema@.is_docker_hub_url(v_url)) p;
  DELETE FROM @extschema@.fetch_leases l
   WHERE l.group_id = release_fetch.group_id AND l.upstream_id = release_fetch.upstream_id
     AND l.relative_path = rel_path;
  RETURN FOUND;
END $$;
COMMENT ON FUNCTION @extschema@.release_fetch(bigint, bigint, text) IS
  'release_fetch(group_id bigint, upstream_id bigint, path text) -> boolean. Gives a fetch lease (begin_fetch, claim_fetch) back after the fetch failed (the upstream answered 404, an error, or content that did not match its digest), so the next caller fetches at once instead of waiting for the lease to expire. True when a lease was deleted, false when there was none. Errors: P0002 unknown upstream; 22023 bad path; 22004 NULL argument.';
REVOKE ALL ON FUNCTION @extschema@.release_fetch(bigint, bigint, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.store_cache_entry(group_id bigint, upstream_id bigint, path text,
  object_storage_key text, size bigint, file_sha1 bytea, content_type text, digest text,
  upstream_etag text DEFAULT NULL, file_md5 bytea DEFAULT NULL, file text DEFAULT NULL)
RETURNS @extschema@.cache_entries
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_path_digest text;
  v_etag_digest text;
  v_row @extschema@.cache_entries;
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(path, 'path');
  PERFORM @extschema@.lifecycle_check_not_null(object_storage_key, 'object_storage_key');
  PERFORM @extschema@.lifecycle_check_not_null(digest, 'digest');
  IF digest !~ '^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$' THEN
    RAISE EXCEPTION 'digest must be sha256:<64 hex> or sha512:<128 hex>'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT p.digest INTO v_path_digest FROM @extschema@.parse_request_path(path) p;
  IF v_path_digest IS NOT NULL AND v_path_digest <> digest THEN
    RAISE EXCEPTION 'the content''s digest % is not the requested digest %', digest, v_path_digest
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'The upstream sent other content than was asked for; do not cache it.';
  END IF;
  v_etag_digest := @extschema@.etag_digest(upstream_etag);
  IF v_etag_digest IS NOT NULL AND v_etag_digest <> digest THEN
    RAISE EXCEPTION 'upstream etag names digest % but the content''s digest is %', v_etag_digest, digest
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v_row := @extschema@.upsert_cache_entry(group_id, upstream_id, path, size, coalesce(file, digest),
             file_sha1, content_type, upstream_etag, file_md5, object_storage_key);
  IF v_row.digest IS DISTINCT FROM digest THEN
    -- a tag manifest whose ETag is no digest: take the one the upstream named
    UPDATE @extschema@.cache_entries e SET digest = store_cache_entry.digest
     WHERE e.group_id = v_row.group_id AND e.id = v_row.id
    RETURNING e.* INTO v_row;
  END IF;
  INSERT INTO @extschema@.download_buffer (group_id, entry_id, downloaded_at)
  VALUES (v_row.group_id, v_row.id, now());
  RETURN v_row;
END $$;
COMMENT ON FUNCTION @extschema@.store_cache_entry(bigint, bigint, text, text, bigint, bytea, text, text, text, bytea, text) IS
  'store_cache_entry(group_id bigint, upstream_id bigint, path text, object_storage_key text, size bigint (bytes), file_sha1 bytea (20 bytes), content_type text, digest text, upstream_etag text DEFAULT NULL, file_md5 bytea DEFAULT NULL, file text DEFAULT NULL) -> the live cache_entries row. The end of a fetch, after the object was verified and written under object_storage_key (from begin_fetch): upsert_cache_entry with that key (a live entry of the path under another key goes to pending destruction, so its object is deleted by the worker and never overwritten under readers), the entry''s digest set to digest (the Docker-Content-Digest the upstream sent, verified by the caller), and one download recorded, in one call. file defaults to the digest. Errors: 22004 NULL path, key or digest (and as upsert_cache_entry); 22023 a digest that is not sha256/sha512, that differs from the digest in the path or from an ETag digest; every error of upsert_cache_entry.';
REVOKE ALL ON FUNCTION @extschema@.store_cache_entry(bigint, bigint, text, text, bigint, bytea, text, text, text, bytea, text) FROM PUBLIC;

-- A url change points the upstream at another host: nothing fetched from the
-- old one may be served as a hit (the credentials are cleared by the
-- credentials trigger in the same statement).
CREATE FUNCTION @extschema@.upstreams_url_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.check_trigger_context('upstreams_url_changed', TG_RELID, TG_WHEN, TG_LEVEL, TG_OP);
  UPDATE @extschema@.cache_entries e SET status = 2
   WHERE e.group_id = NEW.group_id AND e.upstream_id = NEW.id AND e.status = 0;
  DELETE FROM @extschema@.fetch_leases l
   WHERE l.group_id = NEW.group_id AND l.upstream_id = NEW.id;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION @extschema@.upstreams_url_changed() IS
  'Trigger (internal): AFTER UPDATE OF url row trigger on upstreams (when the url changed) that marks every live cache entry of the upstream pending destruction and drops its fetch leases, in the same transaction: nothing fetched from the old host is served again, the worker deletes the objects, and the next pulls fetch from the new host. It fires only as the trigger the extension defines for it (on that table, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event: 39P01.';
REVOKE ALL ON FUNCTION @extschema@.upstreams_url_changed() FROM PUBLIC;
CREATE TRIGGER upstreams_url_changed AFTER UPDATE OF url ON @extschema@.upstreams
  FOR EACH ROW WHEN (OLD.url IS DISTINCT FROM NEW.url)
  EXECUTE FUNCTION @extschema@.upstreams_url_changed();

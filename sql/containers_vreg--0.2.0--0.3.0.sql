-- containers_vreg 0.2.0 -> 0.3.0 (security and correctness release).
-- Every change to sql/install/ since 0.2.0 is repeated here; test/scripts/upgrade.sh
-- checks that 0.2.0 (and 0.1.0) plus the update scripts define every extension
-- member exactly as a fresh 0.3.0 install does.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION containers_vreg UPDATE TO '0.3.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- One index descent per pull: the live-path and live-digest indexes of
-- cache_entries lead with the path (digest) and end with upstream_id, so
-- that one descent finds the live entries of every upstream of the group.
--
-- The script first takes ACCESS EXCLUSIVE on every table it alters:
-- upstreams first, as every request-path function locks it before
-- cache_entries (with its partitions) and fetch_leases, and tables before
-- indexes as every query takes them. Taking a weaker lock for the build and
-- a stronger one for the drop, or upstreams only later for its constraint,
-- deadlocked with running queries (measured at 10 million entries). Readers and
-- writers wait until the update commits (the constraints below, unless
-- added beforehand, hold the same lock for their check of every row). To
-- build the indexes and add the constraints beforehand without blocking
-- writers, run scripts/prebuild-0.3.0-indexes.sql with psql (one CREATE
-- INDEX CONCURRENTLY per partition, then the parent index attached):
-- an index found here under its name, valid and of exactly this definition,
-- is kept and not built again. A leftover of a failed concurrent build
-- (invalid, under the name a partition's index would get) is dropped first,
-- so that the parent index never adopts it.
LOCK TABLE @extschema@.upstreams, @extschema@.cache_entries, @extschema@.fetch_leases
  IN ACCESS EXCLUSIVE MODE;
DO $$
DECLARE
  want record;
  part record;
  have record;
BEGIN
  FOR want IN
    SELECT * FROM (VALUES
      ('cache_entries_live_path_upstream_key', '_group_id_relative_path_upstream_id_idx',
       'CREATE UNIQUE INDEX cache_entries_live_path_upstream_key ON ONLY @extschema@.cache_entries USING btree (group_id, relative_path, upstream_id) WHERE (status = 0)',
       'CREATE UNIQUE INDEX cache_entries_live_path_upstream_key ON @extschema@.cache_entries (group_id, relative_path, upstream_id) WHERE status = 0'),
      ('cache_entries_live_digest_upstream_idx', '_group_id_digest_upstream_id_idx',
       'CREATE INDEX cache_entries_live_digest_upstream_idx ON ONLY @extschema@.cache_entries USING btree (group_id, digest, upstream_id) WHERE ((status = 0) AND (digest IS NOT NULL))',
       'CREATE INDEX cache_entries_live_digest_upstream_idx ON @extschema@.cache_entries (group_id, digest, upstream_id) WHERE status = 0 AND digest IS NOT NULL')
    ) AS w(name, child_suffix, def, ddl)
  LOOP
    SELECT i.indexrelid, i.indisvalid, pg_catalog.pg_get_indexdef(i.indexrelid) AS def INTO have
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
     WHERE c.relname = want.name AND c.relnamespace = '@extschema@'::pg_catalog.regnamespace;
    IF FOUND THEN
      IF have.def IS DISTINCT FROM want.def OR NOT have.indisvalid THEN
        RAISE EXCEPTION 'index @extschema@.% exists but is %', want.name,
          CASE WHEN have.def IS DISTINCT FROM want.def THEN 'defined otherwise: ' || have.def
               ELSE 'not valid (a partition has no index attached to it)' END
          USING ERRCODE = 'object_not_in_prerequisite_state',
                HINT = 'Finish scripts/prebuild-0.3.0-indexes.sql, or drop the index; then update again.';
      END IF;
      CONTINUE;                 -- built beforehand: keep it
    END IF;
    FOR part IN
      SELECT ic.oid::pg_catalog.regclass AS idx
        FROM pg_catalog.pg_inherits h
        JOIN pg_catalog.pg_class pc ON pc.oid = h.inhrelid
        JOIN pg_catalog.pg_class ic ON ic.relname = pc.relname || want.child_suffix
                                   AND ic.relnamespace = pc.relnamespace
        JOIN pg_catalog.pg_index i ON i.indexrelid = ic.oid AND i.indrelid = pc.oid
       WHERE h.inhparent = '@extschema@.cache_entries'::pg_catalog.regclass
         AND NOT i.indisvalid
    LOOP
      EXECUTE pg_catalog.format('DROP INDEX %s', part.idx);
    END LOOP;
    -- adopts every valid per-partition index of this definition, builds the rest
    EXECUTE want.ddl;
    IF NOT (SELECT i.indisvalid FROM pg_catalog.pg_index i
             WHERE i.indexrelid = pg_catalog.to_regclass('@extschema@.' || want.name)) THEN
      RAISE EXCEPTION 'index @extschema@.% is not valid after its build', want.name
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = 'A partition has an invalid index of the same definition (a failed CREATE INDEX CONCURRENTLY): drop it and update again.';
    END IF;
  END LOOP;
END
$$;
DROP INDEX IF EXISTS @extschema@.cache_entries_live_path_key;
DROP INDEX IF EXISTS @extschema@.cache_entries_live_digest_idx;

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
  -- The path is parsed in the same statement (one executor run, not two),
  -- and only for an upstream that exists: an unknown upstream is P0002
  -- whatever the path.
  SELECT p.relative_path, p.digest INTO v_rel, v_path_digest
    FROM @extschema@.upstreams u
   CROSS JOIN LATERAL @extschema@.parse_request_path(v_path, @extschema@.is_docker_hub_url(u.url)) p
   WHERE u.group_id = v_group AND u.id = v_upstream
     FOR KEY SHARE OF u;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'upstream % does not exist in group %', v_upstream, v_group
      USING ERRCODE = 'no_data_found';
  END IF;
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
-- That check reads every row under the ACCESS EXCLUSIVE lock taken above.
-- scripts/prebuild-0.3.0-indexes.sql adds these constraints beforehand
-- without blocking readers and writers (ADD ... NOT VALID, then VALIDATE):
-- a constraint found here under its name, validated (on every partition
-- too) and of exactly this definition is kept and its rows are not read
-- again; one that is not validated or defined otherwise (0.2.0's) is
-- replaced by one added valid, as a fresh install has it.
DO $$
DECLARE
  want record;
  have record;
  clauses text[];
  tab pg_catalog.regclass;
  saved_path text := pg_catalog.current_setting('search_path');
BEGIN
  -- pg_get_constraintdef qualifies the functions of @extschema@ only when
  -- that schema is not on the search path
  PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
  FOR want IN
    SELECT * FROM (VALUES
      ('@extschema@.cache_entries'::pg_catalog.regclass, 'cache_entries_relative_path_check',
       $d$CHECK ((((octet_length(relative_path) >= 1) AND (octet_length(relative_path) <= 1024)) AND ("left"(relative_path, 1) = '/'::text)))$d$,
       $e$octet_length(relative_path) BETWEEN 1 AND 1024 AND left(relative_path, 1) = '/'$e$),
      ('@extschema@.cache_entries'::pg_catalog.regclass, 'cache_entries_object_storage_key_check',
       $d$CHECK (((octet_length(object_storage_key) <= 1024) AND starts_with(object_storage_key, @extschema@.object_storage_prefix(group_id)) AND (octet_length(object_storage_key) > octet_length(@extschema@.object_storage_prefix(group_id))) AND (object_storage_key ~ '^[A-Za-z0-9!_.*''()/-]+$'::text) AND (object_storage_key !~ '(^|/)\.\.?(/|$)'::text) AND (object_storage_key !~ '//'::text) AND ("right"(object_storage_key, 1) <> '/'::text)))$d$,
       $e$octet_length(object_storage_key) <= 1024
           AND starts_with(object_storage_key, @extschema@.object_storage_prefix(group_id))
           AND octet_length(object_storage_key) > octet_length(@extschema@.object_storage_prefix(group_id))
           AND object_storage_key ~ '^[A-Za-z0-9!_.*''()/-]+$'
           AND object_storage_key !~ '(^|/)\.\.?(/|$)'
           AND object_storage_key !~ '//'
           AND right(object_storage_key, 1) <> '/'$e$),
      ('@extschema@.fetch_leases'::pg_catalog.regclass, 'fetch_leases_relative_path_check',
       $d$CHECK ((((octet_length(relative_path) >= 1) AND (octet_length(relative_path) <= 1024)) AND ("left"(relative_path, 1) = '/'::text)))$d$,
       $e$octet_length(relative_path) BETWEEN 1 AND 1024 AND left(relative_path, 1) = '/'$e$)
    ) AS w(tab, name, def, expr)
  LOOP
    IF tab IS DISTINCT FROM want.tab THEN
      -- one ALTER TABLE per table: it checks every row once for all its constraints
      IF clauses IS NOT NULL THEN
        EXECUTE pg_catalog.format('ALTER TABLE %s %s', tab, pg_catalog.array_to_string(clauses, ', '));
      END IF;
      tab := want.tab;
      clauses := NULL;
    END IF;
    SELECT k.convalidated, pg_catalog.pg_get_constraintdef(k.oid) AS def,
           NOT EXISTS (SELECT FROM pg_catalog.pg_inherits h
                         JOIN pg_catalog.pg_constraint pk ON pk.conrelid = h.inhrelid
                        WHERE h.inhparent = k.conrelid AND pk.conname = k.conname
                          AND NOT pk.convalidated) AS parts_validated
      INTO have
      FROM pg_catalog.pg_constraint k
     WHERE k.conrelid = want.tab AND k.conname = want.name AND k.contype = 'c';
    IF FOUND AND have.convalidated AND have.parts_validated AND have.def = want.def THEN
      CONTINUE;                 -- added and validated beforehand: keep it
    END IF;
    clauses := clauses
      || CASE WHEN FOUND THEN ARRAY[pg_catalog.format('DROP CONSTRAINT %I', want.name)] ELSE '{}' END
      || pg_catalog.format('ADD CONSTRAINT %I CHECK (%s)', want.name, want.expr);
  END LOOP;
  IF clauses IS NOT NULL THEN
    EXECUTE pg_catalog.format('ALTER TABLE %s %s', tab, pg_catalog.array_to_string(clauses, ', '));
  END IF;
  PERFORM pg_catalog.set_config('search_path', saved_path, true);
END
$$;
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

-- ---------------------------------------------------------------------------
-- limits(): the limits of the data model as the C code defines them, for the
-- regression test that checks every CHECK constraint and argument check
-- against them (sql/limits.sql). Internal, not executable by PUBLIC.
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.limits(OUT name text, OUT value bigint)
RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'containers_vreg_limits'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
REVOKE ALL ON FUNCTION @extschema@.limits() FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Messages in PostgreSQL's style (one wording per condition: "must not be
-- NULL", "upstream % of group % does not exist"; ETag), the status numbers
-- named where the functions use them, and every function comment rewritten
-- to say what the function does, its arguments and units, its result and its
-- errors, without pointing at documents outside the repository: all of it is
-- in the definitions and comments that the generated block below re-applies.
-- ---------------------------------------------------------------------------

-- ---------------------------------------------------------------------------
-- Credentials envelopes of format 2, bound to the upstream's url as well as
-- its group and id: no object changes shape, only the shared library's
-- sealing and opening and the comments of the credentials functions (in the
-- generated block below). Stored envelopes of format 1 keep opening; the
-- update does not re-seal them (that needs the keyring, which an update
-- script must not depend on): after the update, run
-- containers_vreg.rotate_credentials() until it returns 0 (README,
-- "Upgrading").
-- ---------------------------------------------------------------------------

-- BEGIN generated by scripts/update_tail.py (make update-tail): do not edit
-- Every function definition and every COMMENT ON as sql/install has them
-- (see the script for why). Regenerate after changing sql/install.

-- functions

CREATE OR REPLACE FUNCTION @extschema@.check_trigger_context(trigger_function text, relid oid, tg_when text, tg_level text, tg_op text)
RETURNS void
  AS 'MODULE_PATHNAME', 'containers_vreg_check_trigger_context'
  LANGUAGE C STABLE;

CREATE OR REPLACE FUNCTION @extschema@.row_guard() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_row_guard' LANGUAGE C;

CREATE OR REPLACE FUNCTION @extschema@.registries_limit() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_registries_limit'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION @extschema@.check_upstream_url(url text, allow_local boolean DEFAULT false)
  RETURNS boolean
  AS 'MODULE_PATHNAME', 'containers_vreg_check_upstream_url'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION @extschema@.upstreams_url_network() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_upstreams_url_network'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION @extschema@.object_storage_prefix(group_id bigint) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  -- Operators and cast are qualified: the body of an inlinable SQL function
  -- is parsed under the caller's search_path.
  AS $$ SELECT 'groups/' OPERATOR(pg_catalog.||) $1::pg_catalog.text OPERATOR(pg_catalog.||) '/' $$;

CREATE OR REPLACE FUNCTION @extschema@.cache_entries_status_guard() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_cache_entries_status_guard' LANGUAGE C;

CREATE OR REPLACE FUNCTION @extschema@.create_hash_partitions(parent regclass, modulus integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  digits integer := greatest(2, length((modulus - 1)::text));
  parent_name text;
  parent_schema text;
BEGIN
  IF modulus IS NULL OR modulus < 1 OR modulus > 1024 THEN
    RAISE EXCEPTION 'modulus must be between 1 and 1024, not %', modulus
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT c.relname, n.nspname INTO parent_name, parent_schema
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = parent;
  IF parent IS NULL THEN
    RAISE EXCEPTION 'parent must not be NULL' USING ERRCODE = 'null_value_not_allowed';
  ELSIF NOT FOUND THEN
    RAISE EXCEPTION 'relation with OID % does not exist', parent::oid
      USING ERRCODE = 'undefined_table';
  END IF;
  FOR r IN 0 .. modulus - 1 LOOP
    EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES WITH (MODULUS %s, REMAINDER %s)',
                   parent_schema, parent_name || '_' || lpad(r::text, digits, '0'),
                   parent, modulus, r);
  END LOOP;
  RETURN modulus;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.positions_before_insert() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_positions_before_insert'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION @extschema@.positions_before_update() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_positions_before_update'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION @extschema@.positions_after_update() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_positions_after_update'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION @extschema@.positions_after_delete() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_positions_after_delete'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION @extschema@.positions_check() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_positions_check'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION @extschema@.upstreams_lock_registries() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_upstreams_lock_registries'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION @extschema@.attach_upstream(group_id bigint, registry_id bigint, upstream_id bigint)
RETURNS smallint
AS 'MODULE_PATHNAME', 'containers_vreg_attach_upstream'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION @extschema@.move_upstream(group_id bigint, registry_id bigint, upstream_id bigint, "position" integer)
RETURNS smallint
AS 'MODULE_PATHNAME', 'containers_vreg_move_upstream'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION @extschema@.detach_upstream(group_id bigint, registry_id bigint, upstream_id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'containers_vreg_detach_upstream'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION @extschema@.delete_registry(group_id bigint, registry_id bigint)
RETURNS integer
AS 'MODULE_PATHNAME', 'containers_vreg_delete_registry'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION @extschema@.registry_upstreams(group_id bigint, registry_id bigint)
RETURNS TABLE ("position" smallint, upstream_id bigint, url text, name text, cache_validity_hours smallint)
AS 'MODULE_PATHNAME', 'containers_vreg_registry_upstreams'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION @extschema@.upstreams_credentials() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_upstreams_credentials'
  LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION @extschema@.upstream_credentials(group_id bigint, upstream_id bigint)
RETURNS jsonb
  AS 'MODULE_PATHNAME', 'containers_vreg_upstream_credentials'
  LANGUAGE C STABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION @extschema@.rotate_credentials(batch_size integer DEFAULT 1000)
RETURNS bigint
  AS 'MODULE_PATHNAME', 'containers_vreg_rotate_credentials'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION @extschema@.reset_credentials_secret(dry_run boolean DEFAULT true)
RETURNS TABLE (group_id bigint, upstream_id bigint, key_id integer, action text, detail text)
  AS 'MODULE_PATHNAME', 'containers_vreg_reset_credentials_secret'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION @extschema@.cache_entry_partition(group_id bigint) RETURNS regclass
  AS 'MODULE_PATHNAME', 'containers_vreg_cache_entry_partition'
  LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION @extschema@.hash_partition_for(parent regclass, key bigint) RETURNS regclass
  AS 'MODULE_PATHNAME', 'containers_vreg_hash_partition_for'
  LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION @extschema@.cache_entry_partition_index(group_id bigint, modulus integer) RETURNS integer
  AS 'MODULE_PATHNAME', 'containers_vreg_cache_entry_partition_index'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION @extschema@.cache_entry_shard(group_id bigint, shards integer) RETURNS integer
  AS 'MODULE_PATHNAME', 'containers_vreg_cache_entry_shard'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION @extschema@.is_docker_hub_url(url text) RETURNS boolean
  AS 'MODULE_PATHNAME', 'containers_vreg_is_docker_hub_url'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION @extschema@.parse_request_path(path text, docker_hub boolean DEFAULT false,
  OUT relative_path text, OUT kind text, OUT digest text)
  RETURNS record
  AS 'MODULE_PATHNAME', 'containers_vreg_parse_request_path'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION @extschema@.etag_digest(etag text) RETURNS text
  AS 'MODULE_PATHNAME', 'containers_vreg_etag_digest'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION @extschema@.resolve(group_id bigint, registry_id bigint, path text,
  OUT result text, OUT entry_id bigint, OUT upstream_id bigint, OUT "position" smallint,
  OUT relative_path text, OUT object_storage_key text, OUT file text, OUT size bigint,
  OUT content_type text, OUT upstream_etag text, OUT digest text)
  RETURNS record
  AS 'MODULE_PATHNAME', 'containers_vreg_resolve'
  LANGUAGE C STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp;

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

CREATE OR REPLACE FUNCTION @extschema@.mark_checked(group_id bigint, entry_id bigint) RETURNS void
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

CREATE OR REPLACE FUNCTION @extschema@.record_download(group_id bigint, entry_id bigint) RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF $1 IS NULL OR $2 IS NULL THEN
    RAISE EXCEPTION '% must not be NULL', CASE WHEN $1 IS NULL THEN 'group_id' ELSE 'entry_id' END
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  INSERT INTO @extschema@.download_buffer (group_id, entry_id, downloaded_at) VALUES ($1, $2, now());
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.flush_downloads() RETURNS bigint
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

CREATE OR REPLACE FUNCTION @extschema@.lifecycle_check_not_null(value anyelement, argname text)
RETURNS void LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF value IS NULL THEN
    RAISE EXCEPTION '% must not be NULL', argname
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
END $$;

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

CREATE OR REPLACE FUNCTION @extschema@.lifecycle_check_upstream(group_id bigint, upstream_id bigint)
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(group_id, 'group_id');
  PERFORM @extschema@.lifecycle_check_not_null(upstream_id, 'upstream_id');
  PERFORM FROM @extschema@.upstreams u
   WHERE u.group_id = lifecycle_check_upstream.group_id AND u.id = lifecycle_check_upstream.upstream_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'upstream % of group % does not exist', upstream_id, group_id
      USING ERRCODE = 'no_data_found';
  END IF;
END $$;

CREATE OR REPLACE FUNCTION @extschema@.mark_for_destruction(group_id bigint, entry_id bigint)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(group_id, 'group_id');
  PERFORM @extschema@.lifecycle_check_not_null(entry_id, 'entry_id');
  UPDATE @extschema@.cache_entries e SET status = 2 /* pending destruction */
   WHERE e.group_id = mark_for_destruction.group_id
     AND e.id = mark_for_destruction.entry_id AND e.status = 0 /* live */;
  IF FOUND THEN
    RETURN true;
  END IF;
  PERFORM FROM @extschema@.cache_entries e
   WHERE e.group_id = mark_for_destruction.group_id AND e.id = mark_for_destruction.entry_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'cache entry % of group % does not exist', entry_id, group_id
      USING ERRCODE = 'no_data_found';
  END IF;
  RETURN false;
END $$;

CREATE OR REPLACE FUNCTION @extschema@.purge_upstream(group_id bigint, upstream_id bigint)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  marked bigint;
BEGIN
  PERFORM @extschema@.lifecycle_check_upstream(group_id, upstream_id);
  UPDATE @extschema@.cache_entries e SET status = 2 /* pending destruction */
   WHERE e.group_id = purge_upstream.group_id
     AND e.upstream_id = purge_upstream.upstream_id AND e.status = 0 /* live */;
  GET DIAGNOSTICS marked = ROW_COUNT;
  RETURN marked;
END $$;

CREATE OR REPLACE FUNCTION @extschema@.purge_registry(group_id bigint, registry_id bigint)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  marked bigint;
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(group_id, 'group_id');
  PERFORM @extschema@.lifecycle_check_not_null(registry_id, 'registry_id');
  -- Share-lock the registry: a concurrent attach/detach on it (which locks the
  -- registry row) waits, so the set of exclusive upstreams is stable here.
  PERFORM FROM @extschema@.registries r
   WHERE r.group_id = purge_registry.group_id AND r.id = purge_registry.registry_id
   FOR SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'registry % of group % does not exist', registry_id, group_id
      USING ERRCODE = 'no_data_found';
  END IF;
  UPDATE @extschema@.cache_entries e SET status = 2 /* pending destruction */
   WHERE e.group_id = purge_registry.group_id AND e.status = 0 /* live */
     AND e.upstream_id IN (
       SELECT l.upstream_id FROM @extschema@.registry_upstreams l
        WHERE l.group_id = purge_registry.group_id AND l.registry_id = purge_registry.registry_id
          AND NOT EXISTS (SELECT FROM @extschema@.registry_upstreams o
                           WHERE o.group_id = l.group_id AND o.upstream_id = l.upstream_id
                             AND o.registry_id <> l.registry_id));
  GET DIAGNOSTICS marked = ROW_COUNT;
  RETURN marked;
END $$;

CREATE OR REPLACE FUNCTION @extschema@.claim_for_destruction(batch integer, lease interval DEFAULT '1 hour')
RETURNS TABLE (group_id bigint, entry_id bigint, object_storage_key text, file text, size bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(batch, 'batch');
  IF batch < 1 THEN
    RAISE EXCEPTION 'batch must be at least 1, not %', batch
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM @extschema@.lifecycle_check_lease(lease);
  -- updated_at is set to now() by the row_guard trigger on every update, so
  -- for a processing entry it is the time it was claimed.
  RETURN QUERY
  WITH claimable AS (
    SELECT c.group_id, c.id
      FROM @extschema@.cache_entries c
     WHERE c.status = 2 /* pending destruction */
        OR (c.status = 1 /* processing */ AND c.updated_at < pg_catalog.now() - lease)
     ORDER BY c.updated_at
     LIMIT batch
       FOR UPDATE SKIP LOCKED
  )
  UPDATE @extschema@.cache_entries e SET status = 1 /* processing */
    FROM claimable
   WHERE e.group_id = claimable.group_id AND e.id = claimable.id
  RETURNING e.group_id, e.id, e.object_storage_key, e.file, e.size;
END $$;

CREATE OR REPLACE FUNCTION @extschema@.end_destruction(group_id bigint, entry_id bigint, failed boolean)
RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  current_status smallint;
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(group_id, 'group_id');
  PERFORM @extschema@.lifecycle_check_not_null(entry_id, 'entry_id');
  IF failed THEN
    UPDATE @extschema@.cache_entries e SET status = 3 /* error */
     WHERE e.group_id = end_destruction.group_id AND e.id = end_destruction.entry_id AND e.status = 1 /* processing */;
  ELSE
    DELETE FROM @extschema@.cache_entries e
     WHERE e.group_id = end_destruction.group_id AND e.id = end_destruction.entry_id AND e.status = 1 /* processing */;
  END IF;
  IF FOUND THEN
    RETURN true;
  END IF;
  SELECT e.status INTO current_status FROM @extschema@.cache_entries e
   WHERE e.group_id = end_destruction.group_id AND e.id = end_destruction.entry_id;
  IF NOT FOUND THEN
    RETURN false;   -- already finished (by another worker after a lease expiry)
  END IF;
  RAISE EXCEPTION 'cache entry % of group % is not being destroyed', entry_id, group_id
    USING ERRCODE = 'object_not_in_prerequisite_state',
          DETAIL = pg_catalog.format('Its status is %s; only a claimed entry (status 1) can be finished or failed.', current_status),
          HINT = 'Claim entries with claim_for_destruction() first.';
END $$;

CREATE OR REPLACE FUNCTION @extschema@.finish_destruction(group_id bigint, entry_id bigint)
RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT @extschema@.end_destruction($1, $2, false) $$;

CREATE OR REPLACE FUNCTION @extschema@.fail_destruction(group_id bigint, entry_id bigint)
RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT @extschema@.end_destruction($1, $2, true) $$;

CREATE OR REPLACE FUNCTION @extschema@.retry_destruction(group_id bigint)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(group_id, 'group_id');
  UPDATE @extschema@.cache_entries e SET status = 2 /* pending destruction */
   WHERE e.group_id = retry_destruction.group_id AND e.status = 3 /* error */;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

CREATE OR REPLACE FUNCTION @extschema@.upstreams_mark_entries() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.check_trigger_context('upstreams_mark_entries', TG_RELID, TG_WHEN, TG_LEVEL, TG_OP);
  UPDATE @extschema@.cache_entries e SET status = 2 /* pending destruction */
   WHERE e.group_id = OLD.group_id AND e.upstream_id = OLD.id AND e.status = 0 /* live */;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION @extschema@.mark_unused(group_id bigint, keep_days integer, batch integer DEFAULT 1000,
                                        OUT entries bigint, OUT bytes bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  cutoff timestamptz;
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(group_id, 'group_id');
  PERFORM @extschema@.lifecycle_check_not_null(keep_days, 'keep_days');
  PERFORM @extschema@.lifecycle_check_not_null(batch, 'batch');
  IF keep_days NOT BETWEEN 1 AND 365 THEN
    RAISE EXCEPTION 'keep_days must be between 1 and 365, not %', keep_days
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF batch < 1 THEN
    RAISE EXCEPTION 'batch must be at least 1, not %', batch
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  cutoff := pg_catalog.now() - pg_catalog.make_interval(days => keep_days);
  -- Downloads recorded but not yet folded into cache_entries count too: an
  -- entry with a buffered download at or after the cutoff is kept. The probe
  -- uses download_buffer_entry_idx (group_id, entry_id).
  WITH victims AS (
    SELECT c.group_id, c.id
      FROM @extschema@.cache_entries c
     WHERE c.group_id = mark_unused.group_id AND c.status = 0 /* live */ AND c.downloaded_at < cutoff
       AND NOT EXISTS (SELECT FROM @extschema@.download_buffer b
                        WHERE b.group_id = c.group_id AND b.entry_id = c.id
                          AND b.downloaded_at >= cutoff)
     ORDER BY c.downloaded_at
     LIMIT batch
       FOR UPDATE OF c SKIP LOCKED
  ), marked AS (
    UPDATE @extschema@.cache_entries e SET status = 2 /* pending destruction */
      FROM victims
     WHERE e.group_id = victims.group_id AND e.id = victims.id
    RETURNING e.size
  )
  SELECT count(*), coalesce(sum(marked.size), 0) INTO entries, bytes FROM marked;
END $$;

CREATE OR REPLACE FUNCTION @extschema@.claim_fetch(group_id bigint, upstream_id bigint, path text,
                                        lease interval DEFAULT '30 seconds')
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_url text;
  rel_path text;
  won boolean;
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(group_id, 'group_id');
  PERFORM @extschema@.lifecycle_check_not_null(upstream_id, 'upstream_id');
  PERFORM @extschema@.lifecycle_check_not_null(path, 'path');
  PERFORM @extschema@.lifecycle_check_lease(lease);
  SELECT u.url INTO v_url FROM @extschema@.upstreams u
   WHERE u.group_id = claim_fetch.group_id AND u.id = claim_fetch.upstream_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'upstream % of group % does not exist', upstream_id, group_id
      USING ERRCODE = 'no_data_found';
  END IF;
  -- The lease key is the path exactly as upsert_cache_entry stores it (the C
  -- parser, with Docker Hub's x -> library/x), so the AFTER INSERT trigger on
  -- cache_entries finds and releases it. A bad path is 22023, as there.
  SELECT p.relative_path INTO rel_path
    FROM @extschema@.parse_request_path(path, @extschema@.is_docker_hub_url(v_url)) p;
  -- One statement: a concurrent caller waits on the uncommitted lease row,
  -- then finds it taken. An expired lease is taken over in place.
  INSERT INTO @extschema@.fetch_leases AS l (group_id, upstream_id, relative_path, leased_until)
  VALUES (claim_fetch.group_id, claim_fetch.upstream_id, rel_path, pg_catalog.clock_timestamp() + lease)
  ON CONFLICT ON CONSTRAINT fetch_leases_pkey DO UPDATE
     SET leased_until = EXCLUDED.leased_until
   WHERE l.leased_until < pg_catalog.clock_timestamp()
  RETURNING true INTO won;
  IF won IS NULL THEN
    RETURN false;
  END IF;
  -- A caller that missed just before another one stored the entry must not
  -- fetch again: with a fresh snapshot (READ COMMITTED), look for the entry.
  PERFORM FROM @extschema@.cache_entries c
   WHERE c.group_id = claim_fetch.group_id AND c.upstream_id = claim_fetch.upstream_id
     AND c.relative_path = rel_path AND c.status = 0 /* live */;
  IF FOUND THEN
    DELETE FROM @extschema@.fetch_leases l
     WHERE l.group_id = claim_fetch.group_id AND l.upstream_id = claim_fetch.upstream_id
       AND l.relative_path = rel_path;
    RETURN false;
  END IF;
  RETURN true;
END $$;

CREATE OR REPLACE FUNCTION @extschema@.cache_entries_release_fetch_lease() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.check_trigger_context('cache_entries_release_fetch_lease', TG_RELID, TG_WHEN, TG_LEVEL, TG_OP);
  DELETE FROM @extschema@.fetch_leases l
   WHERE l.group_id = NEW.group_id AND l.upstream_id = NEW.upstream_id
     AND l.relative_path = NEW.relative_path;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION @extschema@.prune_fetch_leases() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  DELETE FROM @extschema@.fetch_leases l WHERE l.leased_until < pg_catalog.clock_timestamp();
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

CREATE OR REPLACE FUNCTION @extschema@.cache_entries_track_usage() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.check_trigger_context('cache_entries_track_usage', TG_RELID, TG_WHEN, TG_LEVEL, TG_OP);
  -- status 0 is live; every other status (1 processing, 2 pending
  -- destruction, 3 error) still occupies storage and counts as pending
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

CREATE OR REPLACE FUNCTION @extschema@.cache_entries_truncate_usage() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.check_trigger_context('cache_entries_truncate_usage', TG_RELID, TG_WHEN, TG_LEVEL, TG_OP);
  TRUNCATE @extschema@.usage_deltas;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION @extschema@.group_usage(group_id bigint)
RETURNS TABLE (upstream_id bigint, live_entries bigint, live_bytes bigint,
               pending_entries bigint, pending_bytes bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(group_id, 'group_id');
  RETURN QUERY
  WITH per_upstream AS (
    SELECT d.upstream_id,
           sum(d.live_entries)::bigint AS live_entries, sum(d.live_bytes)::bigint AS live_bytes,
           sum(d.pending_entries)::bigint AS pending_entries, sum(d.pending_bytes)::bigint AS pending_bytes
      FROM @extschema@.usage_deltas d
     WHERE d.group_id = group_usage.group_id
     GROUP BY d.upstream_id
  ), listed AS (
    -- every upstream of the group, and deleted upstreams that still have entries
    SELECT u.id AS upstream_id FROM @extschema@.upstreams u WHERE u.group_id = group_usage.group_id
    UNION
    SELECT p.upstream_id FROM per_upstream p
     WHERE p.live_entries <> 0 OR p.pending_entries <> 0 OR p.live_bytes <> 0 OR p.pending_bytes <> 0
  )
  SELECT r.upstream_id, coalesce(p.live_entries, 0), coalesce(p.live_bytes, 0),
         coalesce(p.pending_entries, 0), coalesce(p.pending_bytes, 0)
    FROM listed r LEFT JOIN per_upstream p ON p.upstream_id = r.upstream_id
  UNION ALL
  SELECT NULL::bigint, coalesce(sum(p.live_entries), 0)::bigint, coalesce(sum(p.live_bytes), 0)::bigint,
         coalesce(sum(p.pending_entries), 0)::bigint, coalesce(sum(p.pending_bytes), 0)::bigint
    FROM per_upstream p
  ORDER BY 1 NULLS LAST;
END $$;

CREATE OR REPLACE FUNCTION @extschema@.lock_group_usage(group_id bigint) RETURNS void
  AS 'MODULE_PATHNAME', 'containers_vreg_lock_group_usage'
  LANGUAGE C VOLATILE;

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
    -- status 0 is live; every other status counts as pending
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

CREATE OR REPLACE FUNCTION @extschema@.begin_fetch(group_id bigint, upstream_id bigint, path text,
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
     AND c.relative_path = rel_path AND c.status = 0 /* live */
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

CREATE OR REPLACE FUNCTION @extschema@.release_fetch(group_id bigint, upstream_id bigint, path text)
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

CREATE OR REPLACE FUNCTION @extschema@.store_cache_entry(group_id bigint, upstream_id bigint, path text,
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
    RAISE EXCEPTION 'upstream ETag names digest % but the content''s digest is %', v_etag_digest, digest
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

CREATE OR REPLACE FUNCTION @extschema@.upstreams_url_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.check_trigger_context('upstreams_url_changed', TG_RELID, TG_WHEN, TG_LEVEL, TG_OP);
  UPDATE @extschema@.cache_entries e SET status = 2 /* pending destruction */
   WHERE e.group_id = NEW.group_id AND e.upstream_id = NEW.id AND e.status = 0 /* live */;
  DELETE FROM @extschema@.fetch_leases l
   WHERE l.group_id = NEW.group_id AND l.upstream_id = NEW.id;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION @extschema@.limits(OUT name text, OUT value bigint)
RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'containers_vreg_limits'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- comments

COMMENT ON SCHEMA @extschema@ IS
  'containers_vreg: registries, upstreams, ordered registry_upstreams and hash-partitioned cache_entries of a container-image virtual registry';
COMMENT ON FUNCTION @extschema@.check_trigger_context(text, oid, text, text, text) IS
  'check_trigger_context(trigger_function text, relid oid, tg_when text, tg_level text, tg_op text) -> void. Internal: the first statement of every PL/pgSQL trigger function of the extension, called with its own name, TG_RELID, TG_WHEN, TG_LEVEL and TG_OP; returns when the function fires as the trigger the extension defines for it (on its table or a partition of it, at its timing, level and event). Errors, all 39P01: another relation, timing, level or event, an unknown function, a NULL or unknown word; so a trigger function, some SECURITY DEFINER, never acts on a relation of someone else''s choosing.';
COMMENT ON FUNCTION @extschema@.row_guard() IS
  'Trigger function (internal), BEFORE UPDATE on every table: sets updated_at = now() and refuses (23514) a change of group_id or of a column named in the trigger arguments, since a row never moves to another group and an object key names one object forever. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
COMMENT ON TABLE @extschema@.registries IS
  'A virtual registry: one URL in front of up to 5 ordered upstreams. At most 5 registries per group (GitLab''s container limit).';
COMMENT ON FUNCTION @extschema@.registries_limit() IS
  'Trigger function (internal), BEFORE INSERT on registries: refuses (23514) a 6th registry in a group, counting under a per-group lock with the latest snapshot as the table''s owner without row-level security, so the limit of 5 holds under concurrency, any isolation level and any policy. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
COMMENT ON FUNCTION @extschema@.check_upstream_url(text, boolean) IS
  'check_upstream_url(url text, allow_local boolean DEFAULT false) -> boolean. True for an acceptable upstream URL: http or https, a host, no user name or password, a port 1..65535, and a host that is no localhost, loopback, private, shared, link-local, unspecified, multicast or reserved address in any encoding (with allow_local, localhost, loopback, private and shared hosts pass). Otherwise 23514 naming the problem, never echoing the URL; NULL in, NULL out; the rule keeps the service from being pointed at internal hosts, which it must still re-check after resolving DNS.';
COMMENT ON TABLE @extschema@.upstreams IS
  'A registry that a virtual registry pulls from (Docker Hub, ghcr.io, quay.io, a private registry). credentials holds a sealed envelope, never plaintext.';
COMMENT ON COLUMN @extschema@.upstreams.cache_validity_hours IS
  'Hours a cached tag manifest stays fresh; 0 = every pull of a tag revalidates. Digest-addressed entries never go stale.';
COMMENT ON COLUMN @extschema@.upstreams.credentials_fingerprint IS
  'Keyed fingerprint of the plaintext credentials (empty when none): lets UNIQUE (group_id, url, credentials_fingerprint) refuse duplicates without storing plaintext.';
COMMENT ON FUNCTION @extschema@.upstreams_url_network() IS
  'Trigger function (internal), BEFORE INSERT OR UPDATE OF url on upstreams: refuses (23514, the message of check_upstream_url) a new or changed url whose host is local (localhost, loopback, private, shared) unless containers_vreg.allow_local_upstreams is on; a superuser restore (check_function_bodies off) passes. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
COMMENT ON TABLE @extschema@.registry_upstreams IS
  'Ordered link between a registry and an upstream. Positions of a registry are exactly 1..n (n <= 5) at every commit.';
COMMENT ON FUNCTION @extschema@.object_storage_prefix(bigint) IS
  'object_storage_prefix(group_id bigint) -> text. The prefix every object-storage key of the group lies under, groups/<group_id>/, so a purge in one group can never name another group''s object. NULL in, NULL out; no errors.';
COMMENT ON TABLE @extschema@.cache_entries IS
  'One cached manifest or blob of an upstream. Hash-partitioned by group_id. status: 0 live, 1 processing (claimed for destruction), 2 pending destruction, 3 error. At most one live entry per (group_id, upstream_id, relative_path).';
COMMENT ON COLUMN @extschema@.cache_entries.relative_path IS
  'Request path under /v2/ with a leading slash: /library/alpine/manifests/3.21, /library/alpine/blobs/sha256:... At most 1024 bytes (a btree entry is limited in bytes); printable ASCII when written through the API.';
COMMENT ON COLUMN @extschema@.cache_entries.size IS 'Bytes.';
COMMENT ON FUNCTION @extschema@.cache_entries_status_guard() IS
  'Trigger function (internal), BEFORE UPDATE OF status on cache_entries: refuses (23514) a change from a non-live status (1 processing, 2 pending destruction, 3 error) back to 0 live, since the entry''s object may already be deleted. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
COMMENT ON FUNCTION @extschema@.create_hash_partitions(regclass, integer) IS
  'create_hash_partitions(parent regclass, modulus integer) -> integer. Creates the partitions <parent>_00 .. <parent>_<modulus - 1> FOR VALUES WITH (MODULUS modulus, REMAINDER r) and returns modulus. Errors: 22023 modulus outside 1..1024; 22004 parent NULL; 42P01 unknown parent; any error of CREATE TABLE.';
COMMENT ON COLUMN @extschema@.registry_upstreams.position IS
  'Place of the upstream in the registry''s lookup order, 1..n (n <= 5), exactly 1..n at every commit. Omitted (or NULL) on INSERT: appended after the last link. An explicit free position is kept (a restore keeps its order); an explicit taken one is inserted there, later links move down.';
COMMENT ON FUNCTION @extschema@.positions_before_insert() IS
  'Trigger function (internal), BEFORE INSERT on registry_upstreams: locks the registry row, refuses (23514) a 6th link, appends a link without a position after the last one, keeps a free explicit position and makes room at a taken one, so a registry''s positions stay 1..n. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
COMMENT ON FUNCTION @extschema@.positions_before_update() IS
  'Trigger function (internal), BEFORE UPDATE OF position on registry_upstreams: locks the registry row, refuses (22023) a position below 1 and caps one beyond the number of links n at n, as move_upstream does. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
COMMENT ON FUNCTION @extschema@.positions_after_update() IS
  'Trigger function (internal), AFTER UPDATE statement trigger on registry_upstreams: where a statement moved exactly one link of a registry, the links in between shift by one place; several changed links of one registry are taken as given (positions_check checks them at commit). Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
COMMENT ON FUNCTION @extschema@.positions_after_delete() IS
  'Trigger function (internal), AFTER DELETE statement trigger on registry_upstreams (cascades included): locks the affected registries in id order and moves every remaining link up by the number of deleted links before it, so the positions stay 1..n. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
COMMENT ON FUNCTION @extschema@.positions_check() IS
  'Trigger function (internal), deferred constraint trigger on registry_upstreams: at commit the positions of every touched registry must be exactly 1..n with n at most 5, otherwise 23514 naming the registry and the positions found. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
COMMENT ON FUNCTION @extschema@.upstreams_lock_registries() IS
  'Trigger function (internal), BEFORE DELETE on upstreams: locks the rows of the upstream''s registries in id order before its links cascade, so concurrent changes of those registries wait instead of deadlocking. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
COMMENT ON FUNCTION @extschema@.attach_upstream(bigint, bigint, bigint) IS
  'attach_upstream(group_id bigint, registry_id bigint, upstream_id bigint) -> smallint. Links the upstream to the registry after its last upstream and returns the new position. Errors: 22004 NULL argument; P0002 upstream or registry not in the group; 23505 already linked; 23514 a 6th upstream (at most 5 per registry).';
COMMENT ON FUNCTION @extschema@.move_upstream(bigint, bigint, bigint, integer) IS
  'move_upstream(group_id bigint, registry_id bigint, upstream_id bigint, position integer) -> smallint. Moves the upstream to position (1-based; beyond the last link means last) and shifts the links in between by one; returns the final position. Errors: 22004 NULL argument; 22023 position below 1; P0002 registry not in the group or upstream not linked to it.';
COMMENT ON FUNCTION @extschema@.detach_upstream(bigint, bigint, bigint) IS
  'detach_upstream(group_id bigint, registry_id bigint, upstream_id bigint) -> void. Removes the link and moves every later link of the registry up one place; the upstream itself stays. Errors: 22004 NULL argument; P0002 registry not in the group or upstream not linked to it.';
COMMENT ON FUNCTION @extschema@.delete_registry(bigint, bigint) IS
  'delete_registry(group_id bigint, registry_id bigint) -> integer. Deletes the registry (its links cascade) and every upstream linked to it and to no other registry, as GitLab does, and returns how many upstreams it deleted. Errors: 22004 NULL argument; P0002 registry not in the group.';
COMMENT ON FUNCTION @extschema@.registry_upstreams(bigint, bigint) IS
  'registry_upstreams(group_id bigint, registry_id bigint) -> setof (position smallint, upstream_id bigint, url text, name text, cache_validity_hours smallint). The registry''s upstreams in lookup order, never their credentials; writes nothing. Errors: 22004 NULL argument; P0002 registry not in the group.';
COMMENT ON TABLE @extschema@.credentials_secret IS
  'One row: the secret of the keyed credentials fingerprint, as an envelope sealed under the keyring (never plaintext). Created at the first write of credentials; re-sealed by rotate_credentials(). Do not edit: a changed secret makes existing fingerprints incomparable.';
COMMENT ON FUNCTION @extschema@.upstreams_credentials() IS
  'Trigger function (internal, SECURITY DEFINER), BEFORE INSERT OR UPDATE on upstreams: validates plaintext credentials {"username", "password"} (22023, naming the rule or key, never a value), seals them under the keyring''s highest key in envelope format 2, bound to (group_id, id, url), and sets credentials_fingerprint; an envelope written by INSERT (restore, COPY) is stored unchanged, one written by UPDATE must be of format 2 and open on the row with its new url (22000 otherwise; 22023 for format 1, which binds no url), a new url without new credentials clears them, and a duplicate (group, url, credentials) is 23505 with a detail saying which upstream. Other errors: 428C9 fingerprint changed on its own; 55000, 22000, 58P01, 42501, F0000 from the keyring. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
COMMENT ON FUNCTION @extschema@.upstream_credentials(bigint, bigint) IS
  'upstream_credentials(group_id bigint, upstream_id bigint) -> jsonb. Opens the upstream''s sealed credentials and returns {"username": ..., "password": ...}, or NULL when it has none (NULL in, NULL out); a format 2 envelope opens only with the upstream''s current url; grant it to the fetcher role only. Errors: P0002 upstream not in the group; 55000 its key is not in the keyring or none is configured; 22000 the envelope does not authenticate (altered, another row''s, or sealed for another url); 58P01, 42501, F0000 keyring file missing, unreadable or malformed.';
COMMENT ON FUNCTION @extschema@.rotate_credentials(integer) IS
  'rotate_credentials(batch_size integer DEFAULT 1000) -> bigint. Re-seals under the keyring''s highest key at most batch_size envelopes sealed under another key or, for upstreams, in format 1 (the fingerprint secret first, then upstreams in (group_id, id) order) and returns how many; upstream envelopes are written in format 2, bound to the current url, the secret stays in format 1. Once it returns 0, older keys may leave the keyring file and every upstream envelope is bound to its url. Errors: 22004 batch_size NULL; 22023 batch_size below 1; 55000, 22000 an envelope does not open; keyring file errors as upstream_credentials.';
COMMENT ON FUNCTION @extschema@.reset_credentials_secret(boolean) IS
  'reset_credentials_secret(dry_run boolean DEFAULT true) -> setof (group_id bigint, upstream_id bigint, key_id integer, action text, detail text). The way out when the fingerprint secret does not open under the current keyring (a restore onto other keys): a fresh secret, every envelope that opens re-sealed with its fingerprint computed again (recomputed), every other one cleared (cleared), reported row by row after a first row about the secret (replaced); a dry run only reports. Errors: 23505 when two upstreams of a group would end up with the same URL and credentials (nothing changed; a dry run reports conflict, naming every upstream each would collide with); 22004 dry_run NULL; keyring errors as upstream_credentials.';
COMMENT ON FUNCTION @extschema@.cache_entry_partition(bigint) IS
  'cache_entry_partition(group_id bigint) -> regclass. The partition of cache_entries that PostgreSQL routes the group''s rows to, computed from the table''s real partition bounds (cached until they change). NULL in, NULL out. Errors: 42501 no SELECT on cache_entries (checked before the table is locked); 23514 no partition takes the group; 0A000 that partition is itself partitioned.';
COMMENT ON FUNCTION @extschema@.hash_partition_for(regclass, bigint) IS
  'hash_partition_for(parent regclass, key bigint) -> regclass. The leaf partition of any table hash-partitioned on one bigint column that PostgreSQL routes key to. NULL in, NULL out. Errors: 42P01 unknown table; 42501 no SELECT on it (checked before it is locked); 42809 not partitioned; 0A000 not hash-partitioned on one column, or the partition is itself partitioned; 42804 key column not bigint; 23514 no partition takes the key.';
COMMENT ON FUNCTION @extschema@.cache_entry_partition_index(bigint, integer) IS
  'cache_entry_partition_index(group_id bigint, modulus integer) -> integer. The remainder 0..modulus - 1 that PostgreSQL''s hash partitioning gives the group: a partition FOR VALUES WITH (MODULUS m, REMAINDER r) takes it exactly when this returns r. Reads no catalog; NULL in, NULL out. Errors: 22023 modulus below 1.';
COMMENT ON FUNCTION @extschema@.cache_entry_shard(bigint, integer) IS
  'cache_entry_shard(group_id bigint, shards integer) -> integer. The shard 0..shards - 1 that owns the group when groups are spread over shards servers (PL/Proxy: RUN ON cache_entry_shard(group_id, 1024)), taken from hash bits that the local partitioning does not use, so every shard still fills all of its partitions. NULL in, NULL out. Errors: 22023 unless shards is a power of two from 1 to 1024.';
COMMENT ON FUNCTION @extschema@.is_docker_hub_url(text) IS
  'is_docker_hub_url(url text) -> boolean. True when the URL''s host is Docker Hub (registry-1.docker.io, docker.io or index.docker.io, any case, one trailing dot allowed): for such upstreams a one-component image name x is stored and looked up as library/x, so one image has one cache key. NULL in, NULL out; no errors.';
COMMENT ON FUNCTION @extschema@.parse_request_path(text, boolean) IS
  'parse_request_path(path text, docker_hub boolean DEFAULT false) -> (relative_path text, kind text, digest text). Validates a request path under /v2/ by the OCI distribution grammar (<name>/manifests/<tag or digest> or <name>/blobs/<digest>, printable ASCII, at most 1024 bytes) and returns its canonical relative_path (with library/ for a one-component Docker Hub name), its kind (tag_manifest, digest_manifest or blob) and its digest (NULL for a tag). Errors: 22023 naming the problem, as resolve, upsert_cache_entry and claim_fetch raise it; NULL in, NULL out.';
COMMENT ON FUNCTION @extschema@.etag_digest(text) IS
  'etag_digest(etag text) -> text. The sha256 or sha512 digest an upstream ETag names once a W/ prefix and double quotes are stripped (W/"sha256:..." gives sha256:...), or NULL when it names none, so a tag manifest gets a digest from its ETag. NULL in, NULL out; no errors.';
COMMENT ON FUNCTION @extschema@.resolve(bigint, bigint, text) IS
  'resolve(group_id bigint, registry_id bigint, path text) -> (result text, entry_id, upstream_id, position, relative_path, object_storage_key, file, size bigint bytes, content_type, upstream_etag, digest). Among the registry''s upstreams in position order the first with a live entry for the path wins (a digest path matches that digest under any name); result is hit, stale (a tag manifest older than its upstream''s cache_validity_hours, or any tag when that is 0) or miss with the other columns NULL. Writes nothing; errors: 22004 NULL argument; 22023 bad path (see parse_request_path); P0002 registry not in the group.';
COMMENT ON FUNCTION @extschema@.upsert_cache_entry(bigint, bigint, text, bigint, text, bytea, text, text, bytea, text) IS
  'upsert_cache_entry(group_id bigint, upstream_id bigint, path text, size bigint bytes, file text, file_sha1 bytea 20 bytes, content_type text, upstream_etag text, file_md5 bytea 16 bytes, object_storage_key text) -> the live cache_entries row. After a fetch, inserts or updates the one live entry of (group, upstream, canonical path), safe under any number of concurrent callers: a NULL content_type keeps the stored media type, a NULL key keeps the live entry''s key or generates one, and a different key queues the old entry for destruction. Errors: 22004 NULL required argument; 22023 bad path, size outside 0..1 TiB, bad checksum length, key outside the group''s prefix or an ETag digest contradicting the path; P0002 upstream not in the group; 23514, 23505 column limits and key uniqueness.';
COMMENT ON FUNCTION @extschema@.mark_checked(bigint, bigint) IS
  'mark_checked(group_id bigint, entry_id bigint) -> void. Records that the upstream revalidated a stale entry unchanged: sets its upstream_checked_at to now(). Errors: 22004 NULL argument; P0002 the entry is not a live entry of the group.';
COMMENT ON TABLE @extschema@.download_buffer IS
  'Downloads recorded by record_download and not yet added to cache_entries by flush_downloads. Insert-only; one index, (group_id, entry_id), for mark_unused (sql/install/60_lifecycle.sql); not dumped (derived state).';
COMMENT ON FUNCTION @extschema@.record_download(bigint, bigint) IS
  'record_download(group_id bigint, entry_id bigint) -> void. Records one download of a cache entry with a single insert into download_buffer (no row lock, no session state, durable once committed); flush_downloads adds it to the entry later, dropping downloads of entries that do not exist. Errors: 22004 NULL argument.';
COMMENT ON FUNCTION @extschema@.flush_downloads() IS
  'flush_downloads() -> bigint. Moves every buffered download into cache_entries (downloads_count + n, downloaded_at the latest download) and returns how many entries it updated; concurrent flushers count each download exactly once, so a popular blob never becomes a hot row. No errors of its own.';
COMMENT ON FUNCTION @extschema@.lifecycle_check_not_null(anyelement, text) IS
  'lifecycle_check_not_null(value anyelement, argname text) -> void. Internal: raises 22004 "<argname> must not be NULL" when value is NULL.';
COMMENT ON FUNCTION @extschema@.lifecycle_check_lease(interval) IS
  'lifecycle_check_lease(lease interval) -> void. Internal: raises 22004 for a NULL lease and 22023 for a lease that is not positive or longer than 365 days.';
COMMENT ON FUNCTION @extschema@.lifecycle_check_upstream(bigint, bigint) IS
  'lifecycle_check_upstream(group_id bigint, upstream_id bigint) -> void. Internal: raises 22004 for a NULL argument and P0002 when the upstream does not exist in the group.';
COMMENT ON FUNCTION @extschema@.mark_for_destruction(bigint, bigint) IS
  'mark_for_destruction(group_id bigint, entry_id bigint) -> boolean. Marks a live cache entry pending destruction (status 0 to 2): true if it was live, false if it had already left the live state; it stops resolving at once. Errors: 22004 NULL argument; P0002 entry not in the group.';
COMMENT ON FUNCTION @extschema@.purge_upstream(bigint, bigint) IS
  'purge_upstream(group_id bigint, upstream_id bigint) -> bigint. Marks every live entry of the upstream pending destruction (status 0 to 2) and returns how many; the upstream stays. Errors: 22004 NULL argument; P0002 upstream not in the group.';
COMMENT ON FUNCTION @extschema@.purge_registry(bigint, bigint) IS
  'purge_registry(group_id bigint, registry_id bigint) -> bigint. Marks pending destruction (status 0 to 2) every live entry of the registry''s exclusive upstreams (linked to no other registry) and returns how many; entries of shared upstreams stay live. Errors: 22004 NULL argument; P0002 registry not in the group.';
COMMENT ON FUNCTION @extschema@.claim_for_destruction(integer, interval) IS
  'claim_for_destruction(batch integer, lease interval DEFAULT ''1 hour'') -> setof (group_id bigint, entry_id bigint, object_storage_key text, file text, size bigint). Claims up to batch entries of any group for deletion, oldest first (pending ones, and processing ones whose claim is older than lease), sets them processing (status 1) and returns their object keys; concurrent claimers never get the same entry and no live entry''s object is ever returned. Errors: 22004 NULL argument; 22023 batch below 1 or a lease not positive or over 365 days.';
COMMENT ON FUNCTION @extschema@.end_destruction(bigint, bigint, boolean) IS
  'end_destruction(group_id bigint, entry_id bigint, failed boolean) -> boolean. Internal: the rule behind finish_destruction (failed false: delete the claimed row) and fail_destruction (failed true: status 1 to 3).';
COMMENT ON FUNCTION @extschema@.finish_destruction(bigint, bigint) IS
  'finish_destruction(group_id bigint, entry_id bigint) -> boolean. Deletes a claimed entry (status 1) once its object is deleted: true when it deleted it, false when the entry no longer exists (another worker finished it), so a retry is harmless. Errors: 22004 NULL argument; 55000 the entry exists but is not claimed (its object must not be taken as deleted).';
COMMENT ON FUNCTION @extschema@.fail_destruction(bigint, bigint) IS
  'fail_destruction(group_id bigint, entry_id bigint) -> boolean. Records that deleting a claimed entry''s object failed (status 1 to 3): true when it did, false when the entry no longer exists; error entries wait for retry_destruction. Errors: 22004 NULL argument; 55000 the entry exists but is not claimed.';
COMMENT ON FUNCTION @extschema@.retry_destruction(bigint) IS
  'retry_destruction(group_id bigint) -> bigint. Puts the group''s error entries (status 3) back in the destruction queue (status 2) and returns how many. Errors: 22004 NULL argument.';
COMMENT ON FUNCTION @extschema@.upstreams_mark_entries() IS
  'Trigger function (internal), AFTER DELETE on upstreams: marks every live entry of the deleted upstream pending destruction in the same transaction, since cache_entries has no foreign key to upstreams (a cascade would delete millions of rows and orphan their objects). Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
COMMENT ON INDEX @extschema@.download_buffer_entry_idx IS
  'Supports mark_unused: does an entry have a buffered download newer than the cutoff?';
COMMENT ON FUNCTION @extschema@.mark_unused(bigint, integer, integer) IS
  'mark_unused(group_id bigint, keep_days integer, batch integer DEFAULT 1000) -> (entries bigint, bytes bigint). Cleanup policy: marks pending destruction at most batch of the group''s live entries not downloaded for keep_days days (buffered downloads count), least recently downloaded first, and returns how many entries and bytes; call it again until entries is 0. Errors: 22004 NULL argument; 22023 keep_days outside 1..365 or batch below 1.';
COMMENT ON TABLE @extschema@.fetch_leases IS
  'Fetch leases (ephemeral, not dumped): while leased_until is in the future, one caller of claim_fetch owns the upstream fetch of (upstream, relative_path). Deleted when a live entry for the path is inserted.';
COMMENT ON FUNCTION @extschema@.claim_fetch(bigint, bigint, text, interval) IS
  'claim_fetch(group_id bigint, upstream_id bigint, path text, lease interval DEFAULT ''30 seconds'') -> boolean. After a miss, true to exactly one of many concurrent callers for the same upstream and path (normalised as upsert_cache_entry stores it), who fetches; false to the others and when a live entry exists, so a cold path is fetched once. Errors: 22004 NULL argument; P0002 upstream not in the group; 22023 bad path or a lease not positive or over 365 days.';
COMMENT ON FUNCTION @extschema@.cache_entries_release_fetch_lease() IS
  'Trigger function (internal), AFTER INSERT of a live row on cache_entries: releases the fetch lease of the entry''s upstream and path, since the path is now cached. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
COMMENT ON FUNCTION @extschema@.prune_fetch_leases() IS
  'prune_fetch_leases() -> bigint. Deletes the expired fetch leases that failed fetches left behind and returns how many. No errors.';
COMMENT ON TABLE @extschema@.usage_deltas IS
  'Usage counters as insert-only deltas per (group, upstream); summed by group_usage, folded by compact_usage, recomputed by rebuild_usage. Derived state, not dumped. pending = every entry that is not live (pending, processing or error): its object still occupies storage.';
COMMENT ON FUNCTION @extschema@.cache_entries_track_usage() IS
  'Trigger function (internal), AFTER INSERT, DELETE and UPDATE of status, size or upstream_id on cache_entries (row level, so rows restored straight into a partition count too): appends the change to usage_deltas, so the usage counters always equal what the entries add up to. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
COMMENT ON FUNCTION @extschema@.cache_entries_truncate_usage() IS
  'Trigger function (internal), AFTER TRUNCATE on cache_entries: empties usage_deltas with the table (after truncating a single partition, run rebuild_usage). Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
COMMENT ON FUNCTION @extschema@.group_usage(bigint) IS
  'group_usage(group_id bigint) -> setof (upstream_id bigint, live_entries bigint, live_bytes bigint, pending_entries bigint, pending_bytes bigint). One row per upstream of the group, and per deleted upstream that still has entries, then a total row with upstream_id NULL; bytes are sums of size, pending counts every entry that is not live. Reads the maintained counters, so it costs the same for any number of entries. Errors: 22004 NULL argument.';
COMMENT ON FUNCTION @extschema@.lock_group_usage(bigint) IS
  'lock_group_usage(group_id bigint) -> void. Internal: takes the transaction-level lock that serialises compact_usage and rebuild_usage of one group, in the extension''s private advisory lock space (pg_locks: locktype advisory, objsubid 30292), so no application''s advisory lock ever waits for it or blocks it. Errors: 22004 NULL argument.';
COMMENT ON FUNCTION @extschema@.compact_usage(bigint) IS
  'compact_usage(group_id bigint DEFAULT NULL) -> bigint. Folds the usage deltas of one group (NULL: every group) into one row per upstream and returns how many rows it removed; totals do not change and writers are not blocked. No errors.';
COMMENT ON FUNCTION @extschema@.rebuild_usage(bigint) IS
  'rebuild_usage(group_id bigint DEFAULT NULL) -> bigint. Recomputes the usage counters of one group (NULL: every group) from cache_entries and returns how many groups it rebuilt; run it after a restore with triggers disabled or after truncating one partition, since derived state is rebuilt, not dumped. No errors.';
COMMENT ON FUNCTION @extschema@.begin_fetch(bigint, bigint, text, bigint, interval) IS
  'begin_fetch(group_id bigint, upstream_id bigint, path text, replacing bigint DEFAULT NULL, lease interval DEFAULT ''30 seconds'') -> text. After a miss (or a stale tag that changed), leases the fetch of the path and returns a fresh object-storage key under the group''s prefix, where the caller writes the object before store_cache_entry makes it live; NULL to every other concurrent caller, and when a live entry exists other than the one given as replacing. Errors: 22004 NULL argument; P0002 upstream not in the group; 22023 bad path or a lease not positive or over 365 days.';
COMMENT ON FUNCTION @extschema@.release_fetch(bigint, bigint, text) IS
  'release_fetch(group_id bigint, upstream_id bigint, path text) -> boolean. Gives a fetch lease back after the fetch failed, so the next caller fetches at once instead of waiting for it to expire; true when there was one. Errors: 22004 NULL argument; P0002 upstream not in the group; 22023 bad path.';
COMMENT ON FUNCTION @extschema@.store_cache_entry(bigint, bigint, text, text, bigint, bytea, text, text, text, bytea, text) IS
  'store_cache_entry(group_id bigint, upstream_id bigint, path text, object_storage_key text, size bigint bytes, file_sha1 bytea 20 bytes, content_type text, digest text, upstream_etag text DEFAULT NULL, file_md5 bytea DEFAULT NULL, file text DEFAULT NULL) -> the live cache_entries row. The end of a fetch: upsert_cache_entry under the key from begin_fetch with the digest the upstream named, and one download counted, in one call. Errors: those of upsert_cache_entry, and 22023 for a digest that is malformed or contradicts the path''s or the ETag''s.';
COMMENT ON FUNCTION @extschema@.upstreams_url_changed() IS
  'Trigger function (internal), AFTER UPDATE OF url on upstreams when the url changed: marks every live entry of the upstream pending destruction and drops its fetch leases, so nothing fetched from the old host is served again. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
COMMENT ON FUNCTION @extschema@.limits() IS
  'limits() -> setof (name text, value bigint). Internal: every limit of the data model as the C code defines it (src/vreg_limits.h; sizes in bytes, text in characters or bytes as the name says, lease and keep in days), so a test can check that the CHECK constraints and argument checks agree. No errors; not executable by PUBLIC.';
-- END generated by scripts/update_tail.py

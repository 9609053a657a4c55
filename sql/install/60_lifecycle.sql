-- ---------------------------------------------------------------------------
-- Cache lifecycle (docs/design.md, "Cache lifecycle"): destruction queue,
-- upstream deletion, cleanup policy, fetch leases, usage counters.
--
-- Status of a cache entry: 0 live, 1 processing (claimed for destruction),
-- 2 pending destruction, 3 error (destruction failed).
--
--   live 0 --mark/purge/mark_unused/upstream deleted--> pending 2
--   pending 2 --claim_for_destruction--> processing 1
--   processing 1 --finish_destruction--> (row deleted)
--   processing 1 --fail_destruction--> error 3
--   processing 1 --lease expired, claim_for_destruction--> processing 1
--   error 3 --retry_destruction--> pending 2
--
-- No function ever moves an entry back to live: a later pull of the same
-- path inserts a new live row with a new object_storage_key (the unique
-- index on live paths covers status 0 only).
--
-- The API functions are SECURITY DEFINER so that a worker role can be given
-- EXECUTE on them alone, without DELETE/UPDATE on the tables; none is
-- executable by PUBLIC.
-- ---------------------------------------------------------------------------

-- Shared argument checks ------------------------------------------------------
CREATE FUNCTION @extschema@.lifecycle_check_not_null(value anyelement, argname text)
RETURNS void LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF value IS NULL THEN
    RAISE EXCEPTION '% must not be NULL', argname
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
END $$;
COMMENT ON FUNCTION @extschema@.lifecycle_check_not_null(anyelement, text) IS
  'lifecycle_check_not_null(value anyelement, argname text) -> void. Internal: raises 22004 "<argname> must not be NULL" when value is NULL.';
REVOKE ALL ON FUNCTION @extschema@.lifecycle_check_not_null(anyelement, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.lifecycle_check_lease(lease interval)
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
  'lifecycle_check_lease(lease interval) -> void. Internal: raises 22004 for a NULL lease and 22023 for a lease that is not positive or longer than 365 days.';
REVOKE ALL ON FUNCTION @extschema@.lifecycle_check_lease(interval) FROM PUBLIC;

CREATE FUNCTION @extschema@.lifecycle_check_upstream(group_id bigint, upstream_id bigint)
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
COMMENT ON FUNCTION @extschema@.lifecycle_check_upstream(bigint, bigint) IS
  'lifecycle_check_upstream(group_id bigint, upstream_id bigint) -> void. Internal: raises 22004 for a NULL argument and P0002 when the upstream does not exist in the group.';
REVOKE ALL ON FUNCTION @extschema@.lifecycle_check_upstream(bigint, bigint) FROM PUBLIC;

-- Destruction queue -----------------------------------------------------------
CREATE FUNCTION @extschema@.mark_for_destruction(group_id bigint, entry_id bigint)
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
COMMENT ON FUNCTION @extschema@.mark_for_destruction(bigint, bigint) IS
  'mark_for_destruction(group_id bigint, entry_id bigint) -> boolean. Marks a live cache entry pending destruction (status 0 to 2): true if it was live, false if it had already left the live state; it stops resolving at once. Errors: 22004 NULL argument; P0002 entry not in the group.';
REVOKE ALL ON FUNCTION @extschema@.mark_for_destruction(bigint, bigint) FROM PUBLIC;

CREATE FUNCTION @extschema@.purge_upstream(group_id bigint, upstream_id bigint)
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
COMMENT ON FUNCTION @extschema@.purge_upstream(bigint, bigint) IS
  'purge_upstream(group_id bigint, upstream_id bigint) -> bigint. Marks every live entry of the upstream pending destruction (status 0 to 2) and returns how many; the upstream stays. Errors: 22004 NULL argument; P0002 upstream not in the group.';
REVOKE ALL ON FUNCTION @extschema@.purge_upstream(bigint, bigint) FROM PUBLIC;

CREATE FUNCTION @extschema@.purge_registry(group_id bigint, registry_id bigint)
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
COMMENT ON FUNCTION @extschema@.purge_registry(bigint, bigint) IS
  'purge_registry(group_id bigint, registry_id bigint) -> bigint. Marks pending destruction (status 0 to 2) every live entry of the registry''s exclusive upstreams (linked to no other registry) and returns how many; entries of shared upstreams stay live. Errors: 22004 NULL argument; P0002 registry not in the group.';
REVOKE ALL ON FUNCTION @extschema@.purge_registry(bigint, bigint) FROM PUBLIC;

CREATE FUNCTION @extschema@.claim_for_destruction(batch integer, lease interval DEFAULT '1 hour')
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
COMMENT ON FUNCTION @extschema@.claim_for_destruction(integer, interval) IS
  'claim_for_destruction(batch integer, lease interval DEFAULT ''1 hour'') -> setof (group_id bigint, entry_id bigint, object_storage_key text, file text, size bigint). Claims up to batch entries of any group for deletion, oldest first (pending ones, and processing ones whose claim is older than lease), sets them processing (status 1) and returns their object keys; concurrent claimers never get the same entry and no live entry''s object is ever returned. Errors: 22004 NULL argument; 22023 batch below 1 or a lease not positive or over 365 days.';
REVOKE ALL ON FUNCTION @extschema@.claim_for_destruction(integer, interval) FROM PUBLIC;

-- finish and fail share one rule: only a claimed (processing) entry moves on.
CREATE FUNCTION @extschema@.end_destruction(group_id bigint, entry_id bigint, failed boolean)
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
COMMENT ON FUNCTION @extschema@.end_destruction(bigint, bigint, boolean) IS
  'end_destruction(group_id bigint, entry_id bigint, failed boolean) -> boolean. Internal: the rule behind finish_destruction (failed false: delete the claimed row) and fail_destruction (failed true: status 1 to 3).';
REVOKE ALL ON FUNCTION @extschema@.end_destruction(bigint, bigint, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.finish_destruction(group_id bigint, entry_id bigint)
RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT @extschema@.end_destruction($1, $2, false) $$;
COMMENT ON FUNCTION @extschema@.finish_destruction(bigint, bigint) IS
  'finish_destruction(group_id bigint, entry_id bigint) -> boolean. Deletes a claimed entry (status 1) once its object is deleted: true when it deleted it, false when the entry no longer exists (another worker finished it), so a retry is harmless. Errors: 22004 NULL argument; 55000 the entry exists but is not claimed (its object must not be taken as deleted).';
REVOKE ALL ON FUNCTION @extschema@.finish_destruction(bigint, bigint) FROM PUBLIC;

CREATE FUNCTION @extschema@.fail_destruction(group_id bigint, entry_id bigint)
RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT @extschema@.end_destruction($1, $2, true) $$;
COMMENT ON FUNCTION @extschema@.fail_destruction(bigint, bigint) IS
  'fail_destruction(group_id bigint, entry_id bigint) -> boolean. Records that deleting a claimed entry''s object failed (status 1 to 3): true when it did, false when the entry no longer exists; error entries wait for retry_destruction. Errors: 22004 NULL argument; 55000 the entry exists but is not claimed.';
REVOKE ALL ON FUNCTION @extschema@.fail_destruction(bigint, bigint) FROM PUBLIC;

CREATE FUNCTION @extschema@.retry_destruction(group_id bigint)
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
COMMENT ON FUNCTION @extschema@.retry_destruction(bigint) IS
  'retry_destruction(group_id bigint) -> bigint. Puts the group''s error entries (status 3) back in the destruction queue (status 2) and returns how many. Errors: 22004 NULL argument.';
REVOKE ALL ON FUNCTION @extschema@.retry_destruction(bigint) FROM PUBLIC;

-- Deleting an upstream marks its live entries pending destruction ---------------
-- cache_entries has no foreign key to upstreams (a cascade would delete
-- millions of rows and orphan their objects); this trigger queues them for
-- the destruction workers in the same transaction instead.
CREATE FUNCTION @extschema@.upstreams_mark_entries() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.check_trigger_context('upstreams_mark_entries', TG_RELID, TG_WHEN, TG_LEVEL, TG_OP);
  -- No store can slip past this: upsert_cache_entry and store_cache_entry
  -- hold a KEY SHARE lock on the upstream row while they insert, which the
  -- DELETE waits for, so this statement (a fresh snapshot) sees their entry;
  -- a store that comes after the delete finds no upstream (P0002).
  UPDATE @extschema@.cache_entries e SET status = 2 /* pending destruction */
   WHERE e.group_id = OLD.group_id AND e.upstream_id = OLD.id AND e.status = 0 /* live */;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION @extschema@.upstreams_mark_entries() IS
  'Trigger function (internal), AFTER DELETE on upstreams: marks every live entry of the deleted upstream pending destruction in the same transaction, since cache_entries has no foreign key to upstreams (a cascade would delete millions of rows and orphan their objects). Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
REVOKE ALL ON FUNCTION @extschema@.upstreams_mark_entries() FROM PUBLIC;
CREATE TRIGGER upstreams_mark_entries AFTER DELETE ON @extschema@.upstreams
  FOR EACH ROW EXECUTE FUNCTION @extschema@.upstreams_mark_entries();

-- Cleanup policy --------------------------------------------------------------
-- mark_unused probes the download buffer once per candidate entry (NOT
-- EXISTS below); without an index each probe would scan the whole buffer.
-- One btree insert per record_download is the price.
CREATE INDEX download_buffer_entry_idx ON @extschema@.download_buffer (group_id, entry_id);
COMMENT ON INDEX @extschema@.download_buffer_entry_idx IS
  'Supports mark_unused: does an entry have a buffered download newer than the cutoff?';

CREATE FUNCTION @extschema@.mark_unused(group_id bigint, keep_days integer, batch integer DEFAULT 1000,
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
COMMENT ON FUNCTION @extschema@.mark_unused(bigint, integer, integer) IS
  'mark_unused(group_id bigint, keep_days integer, batch integer DEFAULT 1000) -> (entries bigint, bytes bigint). Cleanup policy: marks pending destruction at most batch of the group''s live entries not downloaded for keep_days days (buffered downloads count), least recently downloaded first, and returns how many entries and bytes; call it again until entries is 0. Errors: 22004 NULL argument; 22023 keep_days outside 1..365 or batch below 1.';
REVOKE ALL ON FUNCTION @extschema@.mark_unused(bigint, integer, integer) FROM PUBLIC;

-- One fetch per cold path -------------------------------------------------------
-- Ephemeral state: not registered with pg_extension_config_dump, so pg_dump
-- skips its rows; a restored database starts with no leases.
CREATE TABLE @extschema@.fetch_leases (
  group_id      bigint      NOT NULL,
  upstream_id   bigint      NOT NULL,
  relative_path text        NOT NULL,
  leased_until  timestamptz NOT NULL,
  -- the key begin_fetch handed out: store_cache_entry stores only under the
  -- key of a lease that still exists (NULL for claim_fetch's leases)
  object_storage_key text COLLATE "C",
  CONSTRAINT fetch_leases_pkey PRIMARY KEY (group_id, upstream_id, relative_path),
  -- the same byte limit as cache_entries.relative_path: the key stays far
  -- below the btree entry limit whatever a raw INSERT writes
  CONSTRAINT fetch_leases_relative_path_check
    CHECK (octet_length(relative_path) BETWEEN 1 AND 1024 AND left(relative_path, 1) = '/')
);
COMMENT ON TABLE @extschema@.fetch_leases IS
  'Fetch leases (ephemeral, not dumped): while leased_until is in the future, one caller of begin_fetch or claim_fetch owns the upstream fetch of (upstream, relative_path). Deleted when a live entry for the path is inserted, when the upstream''s url changes, by release_fetch and, once expired, by prune_fetch_leases. object_storage_key is the key begin_fetch handed out (NULL for claim_fetch): store_cache_entry stores only while a lease with its key exists, so an expired lease still counts until another caller takes it over (with another key) or it is pruned.';
COMMENT ON COLUMN @extschema@.fetch_leases.object_storage_key IS
  'The object key begin_fetch returned with this lease, the fencing token store_cache_entry checks; NULL for a lease taken by claim_fetch, whose caller gets no key.';

CREATE FUNCTION @extschema@.claim_fetch(group_id bigint, upstream_id bigint, path text,
                                        lease interval DEFAULT '30 seconds')
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  key text;
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(group_id, 'group_id');
  PERFORM @extschema@.lifecycle_check_not_null(upstream_id, 'upstream_id');
  PERFORM @extschema@.lifecycle_check_not_null(path, 'path');
  PERFORM @extschema@.lifecycle_check_lease(lease);
  -- The same lease as begin_fetch (sql/install/70_service.sql), which holds
  -- the one copy of the rule. Our caller never sees the key, so the lease
  -- keeps none: no store_cache_entry can present it.
  key := @extschema@.begin_fetch(group_id, upstream_id, path, NULL, lease);
  IF key IS NULL THEN
    RETURN false;
  END IF;
  UPDATE @extschema@.fetch_leases l SET object_storage_key = NULL
   WHERE l.group_id = claim_fetch.group_id AND l.upstream_id = claim_fetch.upstream_id
     AND l.object_storage_key = key;
  RETURN true;
END $$;
COMMENT ON FUNCTION @extschema@.claim_fetch(bigint, bigint, text, interval) IS
  'claim_fetch(group_id bigint, upstream_id bigint, path text, lease interval DEFAULT ''30 seconds'') -> boolean. After a miss, true to exactly one of many concurrent callers for the same upstream and path (normalised as upsert_cache_entry stores it), who fetches; false to the others and when a live entry exists, so a cold path is fetched once. Errors: 22004 NULL argument; P0002 upstream not in the group; 22023 bad path or a lease not positive or over 365 days.';
REVOKE ALL ON FUNCTION @extschema@.claim_fetch(bigint, bigint, text, interval) FROM PUBLIC;

CREATE FUNCTION @extschema@.cache_entries_release_fetch_lease() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.check_trigger_context('cache_entries_release_fetch_lease', TG_RELID, TG_WHEN, TG_LEVEL, TG_OP);
  DELETE FROM @extschema@.fetch_leases l
   WHERE l.group_id = NEW.group_id AND l.upstream_id = NEW.upstream_id
     AND l.relative_path = NEW.relative_path;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION @extschema@.cache_entries_release_fetch_lease() IS
  'Trigger function (internal), AFTER INSERT of a live row on cache_entries: releases the fetch lease of the entry''s upstream and path, since the path is now cached. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
REVOKE ALL ON FUNCTION @extschema@.cache_entries_release_fetch_lease() FROM PUBLIC;
CREATE TRIGGER cache_entries_release_fetch_lease AFTER INSERT ON @extschema@.cache_entries
  FOR EACH ROW WHEN (NEW.status = 0 /* live */)
  EXECUTE FUNCTION @extschema@.cache_entries_release_fetch_lease();

CREATE FUNCTION @extschema@.prune_fetch_leases() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  DELETE FROM @extschema@.fetch_leases l WHERE l.leased_until < pg_catalog.clock_timestamp();
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
COMMENT ON FUNCTION @extschema@.prune_fetch_leases() IS
  'prune_fetch_leases() -> bigint. Deletes the expired fetch leases that failed fetches left behind and returns how many. No errors.';
REVOKE ALL ON FUNCTION @extschema@.prune_fetch_leases() FROM PUBLIC;

-- Usage counters --------------------------------------------------------------
-- Maintained as insert-only deltas: every change of an entry's status, size or
-- upstream appends one row; group_usage sums the group's rows; compact_usage
-- folds them into one row per (group, upstream). Appending never updates a
-- shared counter row, so concurrent upserts of one upstream do not serialise
-- on a hot row. Derived state: not dumped; rebuild_usage recomputes it.
CREATE TABLE @extschema@.usage_deltas (
  group_id        bigint NOT NULL,
  upstream_id     bigint NOT NULL,
  live_entries    bigint NOT NULL,
  live_bytes      bigint NOT NULL,
  pending_entries bigint NOT NULL,
  pending_bytes   bigint NOT NULL
);
CREATE INDEX usage_deltas_group_idx ON @extschema@.usage_deltas (group_id, upstream_id);
COMMENT ON TABLE @extschema@.usage_deltas IS
  'Usage counters as insert-only deltas per (group, upstream); summed by group_usage, folded by compact_usage, recomputed by rebuild_usage. Derived state, not dumped. pending = every entry that is not live (pending, processing or error): its object still occupies storage.';

CREATE FUNCTION @extschema@.cache_entries_track_usage() RETURNS trigger
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
COMMENT ON FUNCTION @extschema@.cache_entries_track_usage() IS
  'Trigger function (internal), AFTER INSERT, DELETE and UPDATE of status, size or upstream_id on cache_entries (row level, so rows restored straight into a partition count too): appends the change to usage_deltas, so the usage counters always equal what the entries add up to. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
REVOKE ALL ON FUNCTION @extschema@.cache_entries_track_usage() FROM PUBLIC;
CREATE TRIGGER cache_entries_track_usage_insert AFTER INSERT ON @extschema@.cache_entries
  FOR EACH ROW EXECUTE FUNCTION @extschema@.cache_entries_track_usage();
CREATE TRIGGER cache_entries_track_usage_delete AFTER DELETE ON @extschema@.cache_entries
  FOR EACH ROW EXECUTE FUNCTION @extschema@.cache_entries_track_usage();
CREATE TRIGGER cache_entries_track_usage_update AFTER UPDATE ON @extschema@.cache_entries
  FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.size IS DISTINCT FROM NEW.size
        OR OLD.upstream_id IS DISTINCT FROM NEW.upstream_id)
  EXECUTE FUNCTION @extschema@.cache_entries_track_usage();

-- TRUNCATE fires no row trigger: truncating the whole table empties the
-- counters with it. (After truncating a single partition, run rebuild_usage.)
CREATE FUNCTION @extschema@.cache_entries_truncate_usage() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.check_trigger_context('cache_entries_truncate_usage', TG_RELID, TG_WHEN, TG_LEVEL, TG_OP);
  TRUNCATE @extschema@.usage_deltas;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION @extschema@.cache_entries_truncate_usage() IS
  'Trigger function (internal), AFTER TRUNCATE on cache_entries: empties usage_deltas with the table (after truncating a single partition, run rebuild_usage). Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
REVOKE ALL ON FUNCTION @extschema@.cache_entries_truncate_usage() FROM PUBLIC;
CREATE TRIGGER cache_entries_truncate_usage AFTER TRUNCATE ON @extschema@.cache_entries
  FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.cache_entries_truncate_usage();

CREATE FUNCTION @extschema@.group_usage(group_id bigint)
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
COMMENT ON FUNCTION @extschema@.group_usage(bigint) IS
  'group_usage(group_id bigint) -> setof (upstream_id bigint, live_entries bigint, live_bytes bigint, pending_entries bigint, pending_bytes bigint). One row per upstream of the group, and per deleted upstream that still has entries, then a total row with upstream_id NULL; bytes are sums of size, pending counts every entry that is not live. Reads the maintained counters, so it costs the same for any number of entries. Errors: 22004 NULL argument.';
REVOKE ALL ON FUNCTION @extschema@.group_usage(bigint) FROM PUBLIC;

-- compact_usage and rebuild_usage of one group are serialised with a
-- transaction-level lock, so a rebuild never misses the rows a concurrent
-- compaction inserted (two compactions alone are safe anyway: each sums
-- exactly the rows it deleted). The lock is in the extension's private lock
-- space, like every lock the extension takes: pg_advisory_lock() cannot
-- reach it, so no application's advisory lock collides with it.
CREATE FUNCTION @extschema@.lock_group_usage(group_id bigint) RETURNS void
  AS 'MODULE_PATHNAME', 'containers_vreg_lock_group_usage'
  LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.lock_group_usage(bigint) IS
  'lock_group_usage(group_id bigint) -> void. Internal: takes the transaction-level lock that serialises compact_usage and rebuild_usage of one group, in the extension''s private advisory lock space (pg_locks: locktype advisory, objsubid 30292), so no application''s advisory lock ever waits for it or blocks it. Errors: 22004 NULL argument.';
REVOKE ALL ON FUNCTION @extschema@.lock_group_usage(bigint) FROM PUBLIC;

CREATE FUNCTION @extschema@.compact_usage(group_id bigint DEFAULT NULL)
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
  'compact_usage(group_id bigint DEFAULT NULL) -> bigint. Folds the usage deltas of one group (NULL: every group) into one row per upstream and returns how many rows it removed; totals do not change and writers are not blocked. No errors.';
REVOKE ALL ON FUNCTION @extschema@.compact_usage(bigint) FROM PUBLIC;

CREATE FUNCTION @extschema@.rebuild_usage(group_id bigint DEFAULT NULL)
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
COMMENT ON FUNCTION @extschema@.rebuild_usage(bigint) IS
  'rebuild_usage(group_id bigint DEFAULT NULL) -> bigint. Recomputes the usage counters of one group (NULL: every group) from cache_entries and returns how many groups it rebuilt; run it after a restore with triggers disabled or after truncating one partition, since derived state is rebuilt, not dumped. No errors.';
REVOKE ALL ON FUNCTION @extschema@.rebuild_usage(bigint) FROM PUBLIC;

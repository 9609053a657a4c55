-- ---------------------------------------------------------------------------
-- What a registry service needs on a miss, learned by writing one
-- (test/e2e/registry-service): lease a fetch and get a fresh object key in one
-- call, give the lease back when the fetch fails, store the entry with the
-- digest the upstream named and count the download in the same call; and an
-- upstream url change that leaves nothing of the old host servable.
--
--   miss:  resolve -> registry_upstreams -> begin_fetch (key) -> fetch, verify,
--          write the object under the key -> store_cache_entry (live + counted)
--          during a long fetch: renew_fetch every third of the lease
--          on failure: release_fetch
-- ---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.begin_fetch(group_id bigint, upstream_id bigint, path text,
                                        replacing bigint DEFAULT NULL,
                                        lease interval DEFAULT '30 seconds')
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_url text;
  rel_path text;
  won boolean;
  v_key text;
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(path, 'path');
  PERFORM @extschema@.lifecycle_check_lease(lease);
  PERFORM @extschema@.lifecycle_check_not_null(group_id, 'group_id');
  PERFORM @extschema@.lifecycle_check_not_null(upstream_id, 'upstream_id');
  SELECT u.url INTO v_url FROM @extschema@.upstreams u
   WHERE u.group_id = begin_fetch.group_id AND u.id = begin_fetch.upstream_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'upstream % of group % does not exist', upstream_id, group_id
      USING ERRCODE = 'no_data_found';
  END IF;
  -- The lease rule, for claim_fetch too (it calls this function). The lease
  -- key is the path exactly as upsert_cache_entry stores it (the C parser,
  -- with Docker Hub's x -> library/x), so the AFTER INSERT trigger on
  -- cache_entries finds and releases it. A bad path is 22023, as there.
  SELECT p.relative_path INTO rel_path
    FROM @extschema@.parse_request_path(path, @extschema@.is_docker_hub_url(v_url)) p;
  v_key := @extschema@.object_storage_prefix(group_id) OPERATOR(pg_catalog.||) 'upstreams/'
           OPERATOR(pg_catalog.||) upstream_id::text OPERATOR(pg_catalog.||) '/'
           OPERATOR(pg_catalog.||) pg_catalog.gen_random_uuid()::text;
  -- One statement: a concurrent caller waits on the uncommitted lease row,
  -- then finds it taken. An expired lease is taken over in place, with the
  -- new key: the former holder's store_cache_entry is then refused.
  INSERT INTO @extschema@.fetch_leases AS l
         (group_id, upstream_id, relative_path, leased_until, object_storage_key)
  VALUES (begin_fetch.group_id, begin_fetch.upstream_id, rel_path,
          pg_catalog.clock_timestamp() + lease, v_key)
  ON CONFLICT ON CONSTRAINT fetch_leases_pkey DO UPDATE
     SET leased_until = EXCLUDED.leased_until, object_storage_key = EXCLUDED.object_storage_key
   WHERE l.leased_until < pg_catalog.clock_timestamp()
  RETURNING true INTO won;
  IF won IS NULL THEN
    RETURN NULL;
  END IF;
  -- A caller that missed just before another one stored the entry must not
  -- fetch again: with a fresh snapshot (READ COMMITTED), look for the entry
  -- (when replacing a stale entry: for another one, stored meanwhile). Then
  -- there is nothing to fetch; resolve again.
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
  RETURN v_key;
END $$;
COMMENT ON FUNCTION @extschema@.begin_fetch(bigint, bigint, text, bigint, interval) IS
  'begin_fetch(group_id bigint, upstream_id bigint, path text, replacing bigint DEFAULT NULL, lease interval DEFAULT ''30 seconds'') -> text. After a miss (or a stale tag that changed), leases the fetch of the path and returns a fresh object-storage key under the group''s prefix, where the caller writes the object before store_cache_entry makes it live (the key is also the lease''s fencing token: store_cache_entry refuses it once the lease is gone or taken over); NULL to every other concurrent caller, and when a live entry exists other than the one given as replacing. Errors: 22004 NULL argument; P0002 upstream not in the group; 22023 bad path or a lease not positive or over 365 days.';
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
  'release_fetch(group_id bigint, upstream_id bigint, path text) -> boolean. Gives a fetch lease back after the fetch failed, so the next caller fetches at once instead of waiting for it to expire; true when there was one. Errors: 22004 NULL argument; P0002 upstream not in the group; 22023 bad path.';
REVOKE ALL ON FUNCTION @extschema@.release_fetch(bigint, bigint, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.renew_fetch(group_id bigint, upstream_id bigint, path text,
                                        object_storage_key text,
                                        lease interval DEFAULT '30 seconds')
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  rel_path text;
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(path, 'path');
  PERFORM @extschema@.lifecycle_check_not_null(object_storage_key, 'object_storage_key');
  PERFORM @extschema@.lifecycle_check_lease(lease);
  PERFORM @extschema@.lifecycle_check_upstream(group_id, upstream_id);
  -- the lease key as begin_fetch made it (22023 for a bad path)
  SELECT p.relative_path INTO rel_path
    FROM @extschema@.upstreams u
   CROSS JOIN LATERAL @extschema@.parse_request_path(path, @extschema@.is_docker_hub_url(u.url)) p
   WHERE u.group_id = renew_fetch.group_id AND u.id = renew_fetch.upstream_id;
  -- Only the holder's lease (the key is the fencing token): one taken over
  -- by another caller has that caller's key and is left alone.
  UPDATE @extschema@.fetch_leases l
     SET leased_until = pg_catalog.clock_timestamp() + lease
   WHERE l.group_id = renew_fetch.group_id AND l.upstream_id = renew_fetch.upstream_id
     AND l.relative_path = rel_path AND l.object_storage_key = renew_fetch.object_storage_key;
  RETURN FOUND;
END $$;
COMMENT ON FUNCTION @extschema@.renew_fetch(bigint, bigint, text, text, interval) IS
  'renew_fetch(group_id bigint, upstream_id bigint, path text, object_storage_key text, lease interval DEFAULT ''30 seconds'') -> boolean. Keeps a long fetch''s lease: sets the lease of the path with the key from begin_fetch to expire lease from now (call it well within the lease, e.g. every third of it, so that no other caller takes it over and prune_fetch_leases does not delete it). True when the lease was found; false when it is gone (the upstream''s url changed, another caller took it over, or it was released or pruned): then stop the fetch and do not store, store_cache_entry would refuse it. Errors: 22004 NULL argument; P0002 upstream not in the group; 22023 bad path or a lease not positive or over 365 days.';
REVOKE ALL ON FUNCTION @extschema@.renew_fetch(bigint, bigint, text, text, interval) FROM PUBLIC;

CREATE FUNCTION @extschema@.store_cache_entry(group_id bigint, upstream_id bigint, path text,
  object_storage_key text, size bigint, file_sha1 bytea, content_type text, digest text,
  upstream_etag text DEFAULT NULL, file_md5 bytea DEFAULT NULL, file text DEFAULT NULL)
RETURNS @extschema@.cache_entries
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_path_digest text;
  v_etag_digest text;
  v_rel text;
  v_row @extschema@.cache_entries;
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(group_id, 'group_id');
  PERFORM @extschema@.lifecycle_check_not_null(upstream_id, 'upstream_id');
  PERFORM @extschema@.lifecycle_check_not_null(path, 'path');
  PERFORM @extschema@.lifecycle_check_not_null(object_storage_key, 'object_storage_key');
  PERFORM @extschema@.lifecycle_check_not_null(digest, 'digest');
  PERFORM @extschema@.check_stored_object(group_id, object_storage_key, content_type);
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
  -- The lease is the fencing token. First the upstream row (KEY SHARE, as
  -- upsert_cache_entry takes it): a url change or a delete of the upstream
  -- waits for this store, or this store waits for it, and always in this
  -- order, so the two never deadlock. Then the caller's lease, locked: it is
  -- gone when the url changed (the trigger deletes the leases), when another
  -- caller took the expired lease over (it has that caller's key) or when it
  -- was pruned; then the object came from a fetch that no longer counts and
  -- must not become live. An expired lease still present still counts. The
  -- lease stays locked until the insert deletes it (the AFTER INSERT trigger),
  -- so no url change, takeover or prune can happen in between.
  SELECT p.relative_path INTO v_rel
    FROM @extschema@.upstreams u
   CROSS JOIN LATERAL @extschema@.parse_request_path(path, @extschema@.is_docker_hub_url(u.url)) p
   WHERE u.group_id = store_cache_entry.group_id AND u.id = store_cache_entry.upstream_id
     FOR KEY SHARE OF u;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'upstream % of group % does not exist', upstream_id, group_id
      USING ERRCODE = 'no_data_found';
  END IF;
  PERFORM FROM @extschema@.fetch_leases l
   WHERE l.group_id = store_cache_entry.group_id AND l.upstream_id = store_cache_entry.upstream_id
     AND l.relative_path = v_rel AND l.object_storage_key = store_cache_entry.object_storage_key
     FOR UPDATE OF l;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the fetch lease of this path is gone: the upstream changed or the lease was taken over; do not cache this object'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = pg_catalog.format('No fetch lease of upstream %s for %s has the key %s: the upstream''s url changed, another caller took the expired lease over, or it was released or pruned.',
                                       upstream_id, v_rel, pg_catalog.quote_literal(object_storage_key)),
            HINT = 'Delete the object written under this key and fetch again with a new begin_fetch; store only under the key of a lease from begin_fetch.';
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
  'store_cache_entry(group_id bigint, upstream_id bigint, path text, object_storage_key text, size bigint bytes, file_sha1 bytea 20 bytes, content_type text, digest text, upstream_etag text DEFAULT NULL, file_md5 bytea DEFAULT NULL, file text DEFAULT NULL) -> the live cache_entries row. The end of a fetch: upsert_cache_entry under the key from begin_fetch with the digest the upstream named, and one download counted, in one call. Stores only while the caller''s lease exists with this key (an expired lease counts until it is taken over or pruned). Errors: those of upsert_cache_entry (22004 NULL required argument; 22023 bad path, size, checksum length, key or content_type; P0002 upstream not in the group); 22023 for a digest that is malformed or contradicts the path''s or the ETag''s; 55000 no fetch lease of the path has this key (the upstream''s url changed, the lease was taken over by another caller, released or pruned): the object must not be cached, delete it.';
REVOKE ALL ON FUNCTION @extschema@.store_cache_entry(bigint, bigint, text, text, bigint, bytea, text, text, text, bytea, text) FROM PUBLIC;

-- A url change points the upstream at another host: nothing fetched from the
-- old one may be served as a hit (the credentials are cleared by the
-- credentials trigger in the same statement).
CREATE FUNCTION @extschema@.upstreams_url_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.check_trigger_context('upstreams_url_changed', TG_RELID, TG_WHEN, TG_LEVEL, TG_OP);
  -- The leases go first, then the entries. A store_cache_entry that holds
  -- its lease row locked makes the DELETE wait until it commits; the UPDATE
  -- below is a new statement with a new snapshot (READ COMMITTED, VOLATILE
  -- function), so it sees that store's entry and marks it. A store that comes
  -- later finds no lease and is refused. In the other order a store could
  -- commit between the two statements: its entry missed by the UPDATE, its
  -- lease already consumed, a fetch from the old host served as a hit. (A
  -- store also holds the upstream row KEY SHARE, which this url update waits
  -- for anyway; the order keeps the rule right without relying on that.)
  DELETE FROM @extschema@.fetch_leases l
   WHERE l.group_id = NEW.group_id AND l.upstream_id = NEW.id;
  UPDATE @extschema@.cache_entries e SET status = 2 /* pending destruction */
   WHERE e.group_id = NEW.group_id AND e.upstream_id = NEW.id AND e.status = 0 /* live */;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION @extschema@.upstreams_url_changed() IS
  'Trigger function (internal), AFTER UPDATE OF url on upstreams when the url changed: drops the upstream''s fetch leases, then marks every live entry of the upstream pending destruction, so nothing fetched from the old host is served again: a fetch still running is refused by store_cache_entry (55000), one storing at that moment is waited for and marked. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
REVOKE ALL ON FUNCTION @extschema@.upstreams_url_changed() FROM PUBLIC;
CREATE TRIGGER upstreams_url_changed AFTER UPDATE OF url ON @extschema@.upstreams
  FOR EACH ROW WHEN (OLD.url IS DISTINCT FROM NEW.url)
  EXECUTE FUNCTION @extschema@.upstreams_url_changed();

-- ---------------------------------------------------------------------------
-- Objects that no cache entry names. A service writes an object under its
-- key before store_cache_entry makes the entry live; a process killed in
-- between (or a store whose commit was never confirmed and did not happen)
-- leaves an object that no entry references. The service's sweep lists old
-- objects of a group and deletes those this function returns. An entry of any
-- status counts as a reference: the objects of pending, processing and failed
-- entries belong to the destruction worker.
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.unreferenced_objects(group_id bigint, object_storage_keys text[])
RETURNS SETOF text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  prefix text;
  bad text;
BEGIN
  PERFORM @extschema@.lifecycle_check_not_null(group_id, 'group_id');
  PERFORM @extschema@.lifecycle_check_not_null(object_storage_keys, 'object_storage_keys');
  -- the batch limit of src/vreg_limits.h (VREG_MAX_OBJECT_KEYS_PER_CALL)
  IF pg_catalog.cardinality(object_storage_keys) OPERATOR(pg_catalog.>) 10000 THEN
    RAISE EXCEPTION 'at most 10000 object_storage_keys per call, not %',
      pg_catalog.cardinality(object_storage_keys)
      USING ERRCODE = 'program_limit_exceeded',
            HINT = 'Ask in batches.';
  END IF;
  IF EXISTS (SELECT FROM pg_catalog.unnest(object_storage_keys) k WHERE k IS NULL) THEN
    RAISE EXCEPTION 'object_storage_keys must not contain NULL'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- Every key must be one the group's entries could have (the rules of
  -- cache_entries_object_storage_key_check): a key of another group, or one
  -- that only a '..' segment would lead out of the prefix, is an error, so a
  -- service that mixes groups up never deletes another group's object.
  prefix := @extschema@.object_storage_prefix(group_id);
  SELECT k INTO bad FROM pg_catalog.unnest(object_storage_keys) k
   WHERE NOT (pg_catalog.octet_length(k) OPERATOR(pg_catalog.<=) 1024
              AND pg_catalog.starts_with(k, prefix)
              AND pg_catalog.octet_length(k) OPERATOR(pg_catalog.>) pg_catalog.octet_length(prefix)
              AND k OPERATOR(pg_catalog.~) '^[A-Za-z0-9!_.*''()/-]+$'
              AND k OPERATOR(pg_catalog.!~) '(^|/)\.\.?(/|$)'
              AND k OPERATOR(pg_catalog.!~) '//'
              AND pg_catalog.right(k, 1) OPERATOR(pg_catalog.<>) '/')
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'object_storage_key % is not a key of group %',
      pg_catalog.quote_literal(pg_catalog.left(bad, 100)), group_id
      USING ERRCODE = 'invalid_parameter_value',
            DETAIL = pg_catalog.format('Keys of the group lie under %s, have at most 1024 bytes of A-Z a-z 0-9 !_.*''()/- and no empty, "." or ".." segment.', prefix);
  END IF;
  -- one probe of the UNIQUE (group_id, object_storage_key) index per key
  RETURN QUERY
  SELECT DISTINCT k.key COLLATE pg_catalog."C"
    FROM pg_catalog.unnest(object_storage_keys) AS k(key)
   WHERE NOT EXISTS (SELECT FROM @extschema@.cache_entries e
                      WHERE e.group_id = unreferenced_objects.group_id
                        AND e.object_storage_key = k.key COLLATE pg_catalog."C")
   ORDER BY 1;
END $$;
COMMENT ON FUNCTION @extschema@.unreferenced_objects(bigint, text[]) IS
  'unreferenced_objects(group_id bigint, object_storage_keys text[]) -> setof text. Those of the given object-storage keys that no cache entry of the group names, whatever its status (the objects of pending, processing and failed entries are the destruction worker''s), each once, in byte order: the objects a sweep of the group''s storage may delete, when they are older than the longest time between writing an object and store_cache_entry returning. Reads only; one index probe per key. Errors: 22004 NULL group_id, NULL array or a NULL element; 54000 more than 10000 keys (a batch limit); 22023 a key the group''s entries could not have (outside its prefix groups/<group_id>/, or breaking the key rules of cache_entries), so keys of another group are refused instead of reported.';
REVOKE ALL ON FUNCTION @extschema@.unreferenced_objects(bigint, text[]) FROM PUBLIC;

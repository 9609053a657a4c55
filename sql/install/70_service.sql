-- ---------------------------------------------------------------------------
-- What a registry service needs on a miss, learned by writing one
-- (test/e2e/registry-service): lease a fetch and get a fresh object key in one
-- call, give the lease back when the fetch fails, store the entry with the
-- digest the upstream named and count the download in the same call; and an
-- upstream url change that leaves nothing of the old host servable.
--
--   miss:  resolve -> registry_upstreams -> begin_fetch (key) -> fetch, verify,
--          write the object under the key -> store_cache_entry (live + counted)
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
  -- One statement: a concurrent caller waits on the uncommitted lease row,
  -- then finds it taken. An expired lease is taken over in place.
  INSERT INTO @extschema@.fetch_leases AS l (group_id, upstream_id, relative_path, leased_until)
  VALUES (begin_fetch.group_id, begin_fetch.upstream_id, rel_path, pg_catalog.clock_timestamp() + lease)
  ON CONFLICT ON CONSTRAINT fetch_leases_pkey DO UPDATE
     SET leased_until = EXCLUDED.leased_until
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
  RETURN @extschema@.object_storage_prefix(group_id) OPERATOR(pg_catalog.||) 'upstreams/'
         OPERATOR(pg_catalog.||) upstream_id::text OPERATOR(pg_catalog.||) '/'
         OPERATOR(pg_catalog.||) pg_catalog.gen_random_uuid()::text;
END $$;
COMMENT ON FUNCTION @extschema@.begin_fetch(bigint, bigint, text, bigint, interval) IS
  'begin_fetch(group_id bigint, upstream_id bigint, path text, replacing bigint DEFAULT NULL, lease interval DEFAULT ''30 seconds'') -> text. After a miss (or a stale tag that changed), leases the fetch of the path and returns a fresh object-storage key under the group''s prefix, where the caller writes the object before store_cache_entry makes it live; NULL to every other concurrent caller, and when a live entry exists other than the one given as replacing. Errors: 22004 NULL argument; P0002 upstream not in the group; 22023 bad path or a lease not positive or over 365 days.';
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
COMMENT ON FUNCTION @extschema@.store_cache_entry(bigint, bigint, text, text, bigint, bytea, text, text, text, bytea, text) IS
  'store_cache_entry(group_id bigint, upstream_id bigint, path text, object_storage_key text, size bigint bytes, file_sha1 bytea 20 bytes, content_type text, digest text, upstream_etag text DEFAULT NULL, file_md5 bytea DEFAULT NULL, file text DEFAULT NULL) -> the live cache_entries row. The end of a fetch: upsert_cache_entry under the key from begin_fetch with the digest the upstream named, and one download counted, in one call. Errors: those of upsert_cache_entry, and 22023 for a digest that is malformed or contradicts the path''s or the ETag''s.';
REVOKE ALL ON FUNCTION @extschema@.store_cache_entry(bigint, bigint, text, text, bigint, bytea, text, text, text, bytea, text) FROM PUBLIC;

-- A url change points the upstream at another host: nothing fetched from the
-- old one may be served as a hit (the credentials are cleared by the
-- credentials trigger in the same statement).
CREATE FUNCTION @extschema@.upstreams_url_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM @extschema@.check_trigger_context('upstreams_url_changed', TG_RELID, TG_WHEN, TG_LEVEL, TG_OP);
  UPDATE @extschema@.cache_entries e SET status = 2 /* pending destruction */
   WHERE e.group_id = NEW.group_id AND e.upstream_id = NEW.id AND e.status = 0 /* live */;
  DELETE FROM @extschema@.fetch_leases l
   WHERE l.group_id = NEW.group_id AND l.upstream_id = NEW.id;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION @extschema@.upstreams_url_changed() IS
  'Trigger function (internal), AFTER UPDATE OF url on upstreams when the url changed: marks every live entry of the upstream pending destruction and drops its fetch leases, so nothing fetched from the old host is served again. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
REVOKE ALL ON FUNCTION @extschema@.upstreams_url_changed() FROM PUBLIC;
CREATE TRIGGER upstreams_url_changed AFTER UPDATE OF url ON @extschema@.upstreams
  FOR EACH ROW WHEN (OLD.url IS DISTINCT FROM NEW.url)
  EXECUTE FUNCTION @extschema@.upstreams_url_changed();

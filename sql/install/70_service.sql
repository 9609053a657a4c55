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

-- containers_vreg 0.2.0 -> 0.3.0 (security and correctness release).
-- Every change to sql/install/ since 0.2.0 is repeated here; test/scripts/upgrade.sh
-- checks that 0.2.0 (and 0.1.0) plus the update scripts define every extension
-- member exactly as a fresh 0.3.0 install does.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION containers_vreg UPDATE TO '0.3.0'" to load this file. \quit

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
  'Trigger (internal): BEFORE INSERT OR UPDATE OF url row trigger on upstreams refusing (SQLSTATE 23514, the message of check_upstream_url) a url whose host is localhost, loopback, private or shared address space unless the setting containers_vreg.allow_local_upstreams (superuser-only, off by default) is on. An UPDATE that leaves url unchanged is not checked again. A superuser session with check_function_bodies = off (what pg_dump scripts and pg_restore set) is a restore and is let through, so a dump with local upstreams restores on a server with the setting off.';
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
  UPDATE @extschema@.cache_entries e SET status = 2
   WHERE e.group_id = NEW.group_id AND e.upstream_id = NEW.id AND e.status = 0;
  DELETE FROM @extschema@.fetch_leases l
   WHERE l.group_id = NEW.group_id AND l.upstream_id = NEW.id;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION @extschema@.upstreams_url_changed() IS
  'Trigger (internal): AFTER UPDATE OF url row trigger on upstreams (when the url changed) that marks every live cache entry of the upstream pending destruction and drops its fetch leases, in the same transaction: nothing fetched from the old host is served again, the worker deletes the objects, and the next pulls fetch from the new host.';
REVOKE ALL ON FUNCTION @extschema@.upstreams_url_changed() FROM PUBLIC;
CREATE TRIGGER upstreams_url_changed AFTER UPDATE OF url ON @extschema@.upstreams
  FOR EACH ROW WHEN (OLD.url IS DISTINCT FROM NEW.url)
  EXECUTE FUNCTION @extschema@.upstreams_url_changed();

-- ---------------------------------------------------------------------------
-- Registries and upstreams as function calls, so that application code is the
-- same on one server and through a PL/Proxy router (which forwards function
-- calls only). Each is one statement over the tables with the caller's rights
-- (SECURITY INVOKER): the caller's table and column privileges, row-level
-- security and every table rule (CHECK constraints, url rules, the sealing of
-- credentials, the limit of 5 registries, positions) decide exactly as for the
-- same INSERT, UPDATE or DELETE. What a function adds: 22004 for a NULL
-- argument, P0002 for an upstream to change that the group does not have,
-- and no row in a CHECK error's DETAIL (an upstream row may hold an envelope).
-- Argument checks are inline: a helper would need its own EXECUTE grant.
-- ---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.create_registry(group_id bigint, name text, description text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  new_id bigint;
  missing text := CASE WHEN group_id IS NULL THEN 'group_id' WHEN name IS NULL THEN 'name' END;
BEGIN
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION '% must not be NULL', missing USING ERRCODE = 'null_value_not_allowed';
  END IF;
  INSERT INTO @extschema@.registries AS r (group_id, name, description)
  VALUES (create_registry.group_id, create_registry.name, create_registry.description)
  RETURNING r.id INTO new_id;
  RETURN new_id;
END $$;
COMMENT ON FUNCTION @extschema@.create_registry(bigint, text, text) IS
  'create_registry(group_id bigint, name text, description text DEFAULT NULL) -> bigint. Inserts a registry into the group and returns its id: the same INSERT a client could write, run with the caller''s rights (INSERT on group_id, name and description of registries, SELECT on id, USAGE on registries_id_seq; row-level security applies). Errors: 22004 NULL group_id or name; 23505 a registry of that name in the group; 23514 a name empty, blank or over 255 characters, a description over 1024 characters, or a 6th registry in the group (at most 5, the limit of GitLab''s virtual registries); 42501 missing privileges.';
REVOKE ALL ON FUNCTION @extschema@.create_registry(bigint, text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.create_upstream(group_id bigint, url text, name text DEFAULT '',
  description text DEFAULT NULL, cache_validity_hours smallint DEFAULT 24, credentials jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  new_id bigint;
  e_message text; e_constraint text;
  missing text := CASE WHEN group_id IS NULL THEN 'group_id' WHEN url IS NULL THEN 'url'
                       WHEN name IS NULL THEN 'name'
                       WHEN cache_validity_hours IS NULL THEN 'cache_validity_hours' END;
BEGIN
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION '% must not be NULL', missing USING ERRCODE = 'null_value_not_allowed';
  END IF;
  BEGIN
    INSERT INTO @extschema@.upstreams AS u (group_id, url, name, description, cache_validity_hours, credentials)
    VALUES (create_upstream.group_id, create_upstream.url, create_upstream.name,
            create_upstream.description, create_upstream.cache_validity_hours, create_upstream.credentials)
    RETURNING u.id INTO new_id;
  EXCEPTION WHEN check_violation THEN
    GET STACKED DIAGNOSTICS e_message = MESSAGE_TEXT, e_constraint = CONSTRAINT_NAME;
    -- A rule's own error (a url rule, a trigger) names no constraint: as it is.
    IF e_constraint = '' THEN
      RAISE;
    END IF;
    -- A CHECK constraint's: the same error without PostgreSQL's "Failing row
    -- contains" DETAIL, which would show the row's sealed credentials.
    RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = e_message,
      CONSTRAINT = e_constraint, SCHEMA = '@extschema@', TABLE = 'upstreams',
      HINT = 'The failing row is not shown: it may hold sealed credentials.';
  END;
  RETURN new_id;
END $$;
COMMENT ON FUNCTION @extschema@.create_upstream(bigint, text, text, text, smallint, jsonb) IS
  'create_upstream(group_id bigint, url text, name text DEFAULT '''', description text DEFAULT NULL, cache_validity_hours smallint DEFAULT 24 (hours a tag manifest stays fresh), credentials jsonb DEFAULT NULL (plaintext {"username", "password"}, sealed by the table''s trigger)) -> bigint. Inserts an upstream into the group and returns its id: the same INSERT a client could write, run with the caller''s rights (INSERT on those columns of upstreams, SELECT on id, USAGE on upstreams_id_seq; row-level security applies). Errors: 22004 NULL group_id, url, name or cache_validity_hours; 23514 a url breaking the upstream url rules (check_upstream_url; a local host unless containers_vreg.allow_local_upstreams is on), over 255 characters, a name over 255 or a description over 1024 characters, cache_validity_hours below 0; 22023 malformed credentials; 23505 an upstream of the group with the same url and credentials; 55000 and the other keyring errors of upstream_credentials when credentials are given; 42501 missing privileges. A CHECK error shows no row (it may hold the sealed credentials).';
REVOKE ALL ON FUNCTION @extschema@.create_upstream(bigint, text, text, text, smallint, jsonb) FROM PUBLIC;

CREATE FUNCTION @extschema@.update_upstream(group_id bigint, upstream_id bigint,
  url text DEFAULT NULL, name text DEFAULT NULL, description text DEFAULT NULL,
  cache_validity_hours smallint DEFAULT NULL, credentials jsonb DEFAULT NULL,
  clear_credentials boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  sets text[] := '{}';
  changed bigint;
  e_message text; e_constraint text;
  missing text := CASE WHEN group_id IS NULL THEN 'group_id' WHEN upstream_id IS NULL THEN 'upstream_id'
                       WHEN clear_credentials IS NULL THEN 'clear_credentials' END;
BEGIN
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION '% must not be NULL', missing USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF clear_credentials AND credentials IS NOT NULL THEN
    RAISE EXCEPTION 'credentials and clear_credentials cannot both be given'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Give credentials to replace them, or clear_credentials => true to remove them.';
  END IF;
  -- {} and two empty strings mean "no credentials" to the table; here they
  -- would remove the stored ones, which only clear_credentials may do (a form
  -- that sends empty fields for "unchanged" must not wipe a password).
  IF credentials IS NOT NULL
     AND (credentials OPERATOR(pg_catalog.=) '{}'::jsonb
          OR (credentials OPERATOR(pg_catalog.->>) 'username' OPERATOR(pg_catalog.=) ''
              AND credentials OPERATOR(pg_catalog.->>) 'password' OPERATOR(pg_catalog.=) '')) THEN
    RAISE EXCEPTION 'empty credentials do not remove the stored ones'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Leave credentials NULL to keep them, or give clear_credentials => true to remove them.';
  END IF;
  -- Only the columns given are set: a column in the SET list fires its
  -- UPDATE OF triggers, and credentials written back would be taken as new.
  IF url IS NOT NULL THEN sets := sets || 'url = $3'::text; END IF;
  IF name IS NOT NULL THEN sets := sets || 'name = $4'::text; END IF;
  IF description IS NOT NULL THEN sets := sets || 'description = $5'::text; END IF;
  IF cache_validity_hours IS NOT NULL THEN sets := sets || 'cache_validity_hours = $6'::text; END IF;
  IF credentials IS NOT NULL OR clear_credentials THEN sets := sets || 'credentials = $7'::text; END IF;
  IF pg_catalog.cardinality(sets) = 0 THEN
    PERFORM FROM @extschema@.upstreams u
     WHERE u.group_id = update_upstream.group_id AND u.id = update_upstream.upstream_id;
    GET DIAGNOSTICS changed = ROW_COUNT;
  ELSE
    BEGIN
      EXECUTE pg_catalog.format('UPDATE @extschema@.upstreams SET %s WHERE group_id = $1 AND id = $2',
                                pg_catalog.array_to_string(sets, ', '))
        USING update_upstream.group_id, update_upstream.upstream_id, update_upstream.url,
              update_upstream.name, update_upstream.description,
              update_upstream.cache_validity_hours, update_upstream.credentials;
      GET DIAGNOSTICS changed = ROW_COUNT;
    EXCEPTION WHEN check_violation THEN
      GET STACKED DIAGNOSTICS e_message = MESSAGE_TEXT, e_constraint = CONSTRAINT_NAME;
      -- A rule's own error (a url rule, a trigger) names no constraint: as it is.
      IF e_constraint = '' THEN
        RAISE;
      END IF;
      -- A CHECK constraint's: the same error without PostgreSQL's "Failing row
      -- contains" DETAIL, which would show the row's sealed credentials.
      RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = e_message,
        CONSTRAINT = e_constraint, SCHEMA = '@extschema@', TABLE = 'upstreams',
        HINT = 'The failing row is not shown: it may hold sealed credentials.';
    END;
  END IF;
  IF changed = 0 THEN
    RAISE EXCEPTION 'upstream % of group % does not exist', upstream_id, group_id
      USING ERRCODE = 'no_data_found';
  END IF;
END $$;
COMMENT ON FUNCTION @extschema@.update_upstream(bigint, bigint, text, text, text, smallint, jsonb, boolean) IS
  'update_upstream(group_id bigint, upstream_id bigint, url text DEFAULT NULL, name text DEFAULT NULL, description text DEFAULT NULL, cache_validity_hours smallint DEFAULT NULL (hours), credentials jsonb DEFAULT NULL (plaintext {"username", "password"}), clear_credentials boolean DEFAULT false) -> void. Changes the given columns of the upstream in one UPDATE with the caller''s rights (UPDATE on those columns, SELECT on group_id and id; row-level security applies); a NULL argument keeps the column (description is emptied with '''', stored as given), and credentials are removed only by clear_credentials => true. The table''s rules then decide as for the same UPDATE: a changed url clears the credentials unless new ones are given in the same call, and marks the upstream''s live entries pending destruction. Errors: 22004 NULL group_id, upstream_id or clear_credentials; 22023 both credentials and clear_credentials, empty credentials ({} or two empty strings: use clear_credentials), or malformed credentials; P0002 upstream not in the group (also when nothing is to change); 23514, 23505 and the keyring errors as create_upstream; 42501 missing privileges. A CHECK error shows no row.';
REVOKE ALL ON FUNCTION @extschema@.update_upstream(bigint, bigint, text, text, text, smallint, jsonb, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.delete_upstream(group_id bigint, upstream_id bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  deleted bigint;
  missing text := CASE WHEN group_id IS NULL THEN 'group_id' WHEN upstream_id IS NULL THEN 'upstream_id' END;
BEGIN
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION '% must not be NULL', missing USING ERRCODE = 'null_value_not_allowed';
  END IF;
  DELETE FROM @extschema@.upstreams u
   WHERE u.group_id = delete_upstream.group_id AND u.id = delete_upstream.upstream_id;
  GET DIAGNOSTICS deleted = ROW_COUNT;
  RETURN deleted > 0;
END $$;
COMMENT ON FUNCTION @extschema@.delete_upstream(bigint, bigint) IS
  'delete_upstream(group_id bigint, upstream_id bigint) -> boolean. Deletes the upstream with the caller''s rights (DELETE on upstreams, SELECT on group_id and id; row-level security applies), as the same DELETE does: its links cascade and the later links of each of its registries move up, and its live entries are marked pending destruction. True when it deleted it, false when the group has no such upstream (so a retry is harmless). Errors: 22004 NULL argument; 42501 missing privileges.';
REVOKE ALL ON FUNCTION @extschema@.delete_upstream(bigint, bigint) FROM PUBLIC;

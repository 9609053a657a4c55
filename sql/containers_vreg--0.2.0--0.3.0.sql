-- containers_vreg 0.2.0 -> 0.3.0 (security and correctness release).
-- Every change to sql/install/ since 0.2.0 is repeated here; test/scripts/upgrade.sh
-- checks that 0.2.0 (and 0.1.0) plus the update scripts define every extension
-- member exactly as a fresh 0.3.0 install does.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION containers_vreg UPDATE TO '0.3.0'" to load this file. \quit

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
  'Trigger (internal): BEFORE INSERT row trigger on registries refusing (SQLSTATE 23514) a 6th registry in a group. Serialises inserts per group with a transaction-level advisory lock and counts with the latest snapshot, so it holds under any isolation level. Rule: at most 5 registries per group (GitLab''s container limit). It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
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

-- ---------------------------------------------------------------------------
-- Credentials (DESIGN section 4). upstreams.credentials holds NULL or an
-- envelope sealed with XChaCha20-Poly1305 under the keyring named by
-- containers_vreg.keyring_file, bound to (group_id, id); never plaintext.
-- A C trigger seals whatever way credentials arrive (INSERT, UPDATE, COPY,
-- restore) and keeps credentials_fingerprint, a keyed hash that lets
-- UNIQUE (group_id, url, credentials_fingerprint) refuse duplicates.
-- ---------------------------------------------------------------------------

-- The fingerprint secret: one row, sealed under the keyring like any
-- credentials (re-sealed by rotate_credentials), created at the first write of
-- credentials. Dumped with the data, so fingerprints stay comparable across
-- rotation, removal of old keys and dump/restore.
CREATE TABLE @extschema@.credentials_secret (
  id         integer     NOT NULL DEFAULT 1,
  secret     jsonb       NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT credentials_secret_pkey PRIMARY KEY (id),
  CONSTRAINT credentials_secret_one_row CHECK (id = 1)
);
COMMENT ON TABLE @extschema@.credentials_secret IS
  'One row: the secret of the keyed credentials fingerprint, as an envelope sealed under the keyring (never plaintext). Created at the first write of credentials; re-sealed by rotate_credentials(). Do not edit: a changed secret makes existing fingerprints incomparable.';
REVOKE ALL ON TABLE @extschema@.credentials_secret FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.credentials_secret', '');

-- Replaces the 0.1.0 placeholder that refused every non-NULL credentials.
CREATE FUNCTION @extschema@.upstreams_credentials() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_upstreams_credentials'
  LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.upstreams_credentials() IS
  'Trigger (internal): BEFORE INSERT OR UPDATE row trigger on upstreams. Plaintext {"username","password"} is validated (22023: unknown key, non-string, over 510 characters, one without the other, non-object; the message lists the accepted keys and never a value), sealed with XChaCha20-Poly1305 under the highest key of the keyring and bound to (group_id, id); NULL, {} and empty strings store NULL. An envelope {"v","kid","nonce","ct"} supplied as it is (restore, COPY) is checked for structure (22023) and stored unchanged with its credentials_fingerprint. credentials_fingerprint = keyed BLAKE2b of the canonical plaintext (empty when none). An UPDATE that changes url without supplying credentials clears them; credentials_fingerprint cannot change on its own (428C9). Keyring errors: 55000, 58P01, 42501, F0000. SECURITY DEFINER to read and create the fingerprint secret. Rule: credentials are stored only sealed and bound to their row, and no two upstreams of a group have the same url and the same credentials. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
REVOKE ALL ON FUNCTION @extschema@.upstreams_credentials() FROM PUBLIC;

CREATE TRIGGER upstreams_credentials BEFORE INSERT OR UPDATE ON @extschema@.upstreams
  FOR EACH ROW EXECUTE FUNCTION @extschema@.upstreams_credentials();
-- ALWAYS: also under session_replication_role = replica (a superuser's bulk
-- load, a logical-replication subscriber), plaintext is never stored; an
-- already sealed envelope is stored as it is.
ALTER TABLE @extschema@.upstreams ENABLE ALWAYS TRIGGER upstreams_credentials;

CREATE FUNCTION @extschema@.upstream_credentials(group_id bigint, upstream_id bigint)
RETURNS jsonb
  AS 'MODULE_PATHNAME', 'containers_vreg_upstream_credentials'
  LANGUAGE C STABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.upstream_credentials(bigint, bigint) IS
  'upstream_credentials(group_id bigint, upstream_id bigint) -> jsonb. Opens the upstream''s sealed credentials and returns the plaintext {"username": ..., "password": ...}, or NULL when the upstream has none. Not executable by PUBLIC: grant it to the fetcher role only (SECURITY DEFINER, so that role needs no table privileges). Errors: P0002 unknown upstream (or one of another group); 55000 the envelope''s key id is not in the keyring (message names the key id) or no keyring is configured; 22000 the envelope does not open (altered, copied from another row, or a different key under that id); 58P01/42501/F0000 keyring file missing, unreadable or malformed. NULL arguments give NULL. Rule: DESIGN section 4.';
REVOKE ALL ON FUNCTION @extschema@.upstream_credentials(bigint, bigint) FROM PUBLIC;

CREATE FUNCTION @extschema@.rotate_credentials(batch_size integer DEFAULT 1000)
RETURNS bigint
  AS 'MODULE_PATHNAME', 'containers_vreg_rotate_credentials'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.rotate_credentials(integer) IS
  'rotate_credentials(batch_size integer DEFAULT 1000) -> bigint. Re-seals under the keyring''s sealing (highest) key at most batch_size envelopes that are sealed under another key: the fingerprint secret first, then upstreams in (group_id, id) order, locking each row. Returns how many envelopes it changed; call it again until it returns 0, then older keys may be removed from the keyring file. Fingerprints do not change. Errors: 22023 batch_size < 1; 22004 batch_size NULL; 55000 an envelope''s key id is not in the keyring (message names it); 22000 an envelope does not open; keyring file errors as upstream_credentials. Rule: DESIGN section 4.';
REVOKE ALL ON FUNCTION @extschema@.rotate_credentials(integer) FROM PUBLIC;

-- The way out of a fingerprint secret that does not open (a restore onto a
-- server whose keyring has other keys): a fresh secret, fingerprints computed
-- again, and the credentials that no key opens cleared.
CREATE FUNCTION @extschema@.reset_credentials_secret(dry_run boolean DEFAULT true)
RETURNS TABLE (group_id bigint, upstream_id bigint, key_id integer, action text, detail text)
  AS 'MODULE_PATHNAME', 'containers_vreg_reset_credentials_secret'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.reset_credentials_secret(boolean) IS
  'reset_credentials_secret(dry_run boolean DEFAULT true) -> setof (group_id bigint, upstream_id bigint, key_id integer, action text, detail text). The way out when the credentials fingerprint secret does not open under the current keyring (after a restore onto a server whose keyring has other keys every write of credentials fails with 22000 or 55000, and rotate_credentials() has nothing to do). Replaces the secret with a fresh one sealed under the keyring''s sealing (highest) key. Every upstream whose envelope opens under the current keyring keeps its credentials, re-sealed under the sealing key, with its fingerprint computed under the new secret (action ''recomputed''); every envelope that no key opens is cleared: credentials NULL, fingerprint empty (action ''cleared''; detail says why: the key is not in the keyring, the envelope does not authenticate, or it is malformed). The first row (group_id and upstream_id NULL, action ''replaced'') tells what became of the old secret and which key seals the new one; then one row per upstream with credentials in (group_id, upstream_id) order, key_id being the key its envelope was sealed under. With dry_run true (the default) it only reports; with false it applies everything in one statement, all or nothing, under SHARE ROW EXCLUSIVE locks on upstreams and credentials_secret. Errors: 23505 when afterwards two upstreams of a group would have the same url and the same credentials (or both none): the message names both and nothing is changed (a dry run reports them as action ''conflict''); 22004 dry_run NULL; 55000 no keyring configured; 58P01/42501/F0000 keyring file missing, unreadable or malformed. Not executable by PUBLIC: the extension owner or a superuser runs it. Rule: fingerprints compare only under one secret, so a new secret means every fingerprint is computed again, and credentials that no key opens can never be used and are removed rather than kept.';
REVOKE ALL ON FUNCTION @extschema@.reset_credentials_secret(boolean) FROM PUBLIC;

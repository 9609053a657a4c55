-- ---------------------------------------------------------------------------
-- Credentials (docs/design.md, "Credentials"). upstreams.credentials holds NULL or an
-- envelope sealed with XChaCha20-Poly1305 under the keyring named by
-- containers_vreg.keyring_file, bound to (group_id, id, url) (format 2; format
-- 1, written by 0.1.0 and 0.2.0, binds (group_id, id) only); never plaintext.
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
  'Trigger function (internal, SECURITY DEFINER), BEFORE INSERT OR UPDATE on upstreams: validates plaintext credentials {"username", "password"} (22023, naming the rule or key, never a value), seals them under the keyring''s highest key in envelope format 2, bound to (group_id, id, url), and sets credentials_fingerprint; an envelope written by INSERT (restore, COPY) is stored unchanged, one written by UPDATE must be of format 2 and open on the row with its new url (22000 otherwise; 22023 for format 1, which binds no url), a new url without new credentials clears them, and a duplicate (group, url, credentials) is 23505 with a detail saying which upstream. Other errors: 428C9 fingerprint changed on its own; 55000, 22000, 58P01, 42501, F0000 from the keyring. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
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
  'upstream_credentials(group_id bigint, upstream_id bigint) -> jsonb. Opens the upstream''s sealed credentials and returns {"username": ..., "password": ...}, or NULL when it has none (NULL in, NULL out); a format 2 envelope opens only with the upstream''s current url; grant it to the fetcher role only. Errors: P0002 upstream not in the group; 55000 its key is not in the keyring or none is configured; 22000 the envelope does not authenticate (altered, another row''s, or sealed for another url); 58P01, 42501, F0000 keyring file missing, unreadable or malformed.';
REVOKE ALL ON FUNCTION @extschema@.upstream_credentials(bigint, bigint) FROM PUBLIC;

CREATE FUNCTION @extschema@.rotate_credentials(batch_size integer DEFAULT 1000)
RETURNS bigint
  AS 'MODULE_PATHNAME', 'containers_vreg_rotate_credentials'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.rotate_credentials(integer) IS
  'rotate_credentials(batch_size integer DEFAULT 1000) -> bigint. Re-seals under the keyring''s highest key at most batch_size envelopes sealed under another key or, for upstreams, in format 1 (the fingerprint secret first, then upstreams in (group_id, id) order) and returns how many; upstream envelopes are written in format 2, bound to the current url, the secret stays in format 1. Once it returns 0, older keys may leave the keyring file and every upstream envelope is bound to its url. Errors: 22004 batch_size NULL; 22023 batch_size below 1; 55000, 22000 an envelope does not open; keyring file errors as upstream_credentials.';
REVOKE ALL ON FUNCTION @extschema@.rotate_credentials(integer) FROM PUBLIC;

-- The way out of a fingerprint secret that does not open (a restore onto a
-- server whose keyring has other keys): a fresh secret, fingerprints computed
-- again, and the credentials that no key opens cleared.
CREATE FUNCTION @extschema@.reset_credentials_secret(dry_run boolean DEFAULT true)
RETURNS TABLE (group_id bigint, upstream_id bigint, key_id integer, action text, detail text)
  AS 'MODULE_PATHNAME', 'containers_vreg_reset_credentials_secret'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.reset_credentials_secret(boolean) IS
  'reset_credentials_secret(dry_run boolean DEFAULT true) -> setof (group_id bigint, upstream_id bigint, key_id integer, action text, detail text). The way out when the fingerprint secret does not open under the current keyring (a restore onto other keys): a fresh secret, every envelope that opens re-sealed with its fingerprint computed again (recomputed), every other one cleared (cleared), reported row by row after a first row about the secret (replaced); a dry run only reports. Errors: 23505 when two upstreams of a group would end up with the same URL and credentials (nothing changed; a dry run reports conflict, naming every upstream each would collide with); 22004 dry_run NULL; keyring errors as upstream_credentials.';
REVOKE ALL ON FUNCTION @extschema@.reset_credentials_secret(boolean) FROM PUBLIC;

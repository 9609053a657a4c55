-- ---------------------------------------------------------------------------
-- Tables (docs/design.md, "Tables and columns"). group_id leads every key; ids come from one
-- sequence per table (not identity columns, so that a row inserted straight
-- into a cache_entries partition gets an id too).
-- ---------------------------------------------------------------------------

-- Every trigger function of the extension first checks that it fires as the
-- trigger the extension made for it: on its own table (or a partition of it),
-- at its timing, level and event; anything else is 39P01. The C trigger
-- functions do it in C (src/vreg_common.c); the PL/pgSQL ones call this.
-- PostgreSQL checks EXECUTE on a trigger function only when a trigger is
-- created, never when it fires, so every trigger function is also revoked
-- from PUBLIC: the extension's own triggers keep firing for every role.
CREATE FUNCTION @extschema@.check_trigger_context(trigger_function text, relid oid, tg_when text, tg_level text, tg_op text)
RETURNS void
  AS 'MODULE_PATHNAME', 'containers_vreg_check_trigger_context'
  LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.check_trigger_context(text, oid, text, text, text) IS
  'check_trigger_context(trigger_function text, relid oid, tg_when text, tg_level text, tg_op text) -> void. Internal: the first statement of every PL/pgSQL trigger function of the extension, called with its own name, TG_RELID, TG_WHEN, TG_LEVEL and TG_OP; returns when the function fires as the trigger the extension defines for it (on its table or a partition of it, at its timing, level and event). Errors, all 39P01: another relation, timing, level or event, an unknown function, a NULL or unknown word; so a trigger function, some SECURITY DEFINER, never acts on a relation of someone else''s choosing.';
REVOKE ALL ON FUNCTION @extschema@.check_trigger_context(text, oid, text, text, text) FROM PUBLIC;

-- Generic row trigger in C: moves updated_at on every UPDATE and refuses a
-- change of group_id or of any column named in the trigger arguments.
CREATE FUNCTION @extschema@.row_guard() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_row_guard' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.row_guard() IS
  'Trigger function (internal), BEFORE UPDATE on every table: sets updated_at = now() and refuses (23514) a change of group_id or of a column named in the trigger arguments, since a row never moves to another group and an object key names one object forever. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
REVOKE ALL ON FUNCTION @extschema@.row_guard() FROM PUBLIC;

-- registries ----------------------------------------------------------------
CREATE SEQUENCE @extschema@.registries_id_seq;

CREATE TABLE @extschema@.registries (
  group_id    bigint      NOT NULL,
  id          bigint      NOT NULL DEFAULT nextval('@extschema@.registries_id_seq'),
  name        text        NOT NULL,
  description text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT registries_pkey PRIMARY KEY (group_id, id),
  CONSTRAINT registries_name_key UNIQUE (group_id, name),
  CONSTRAINT registries_name_check
    CHECK (char_length(name) BETWEEN 1 AND 255 AND name ~ '[^[:space:]]'),
  CONSTRAINT registries_description_check
    CHECK (char_length(description) <= 1024)
);
ALTER SEQUENCE @extschema@.registries_id_seq OWNED BY @extschema@.registries.id;
COMMENT ON TABLE @extschema@.registries IS
  'A virtual registry: one URL in front of up to 5 ordered upstreams. At most 5 registries per group (GitLab''s container limit).';

-- At most 5 registries per group, also under concurrent inserts (C trigger:
-- takes a per-group advisory lock, then counts with the latest snapshot).
CREATE FUNCTION @extschema@.registries_limit() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_registries_limit'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.registries_limit() IS
  'Trigger function (internal), BEFORE INSERT on registries: refuses (23514) a 6th registry in a group, counting under a per-group lock with the latest snapshot as the table''s owner without row-level security, so the limit of 5 holds under concurrency, any isolation level and any policy. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
REVOKE ALL ON FUNCTION @extschema@.registries_limit() FROM PUBLIC;

CREATE TRIGGER registries_limit BEFORE INSERT ON @extschema@.registries
  FOR EACH ROW EXECUTE FUNCTION @extschema@.registries_limit();
CREATE TRIGGER registries_row_guard BEFORE UPDATE ON @extschema@.registries
  FOR EACH ROW EXECUTE FUNCTION @extschema@.row_guard();

-- upstreams -----------------------------------------------------------------
CREATE SEQUENCE @extschema@.upstreams_id_seq;

CREATE FUNCTION @extschema@.check_upstream_url(url text, allow_local boolean DEFAULT false)
  RETURNS boolean
  AS 'MODULE_PATHNAME', 'containers_vreg_check_upstream_url'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.check_upstream_url(text, boolean) IS
  'check_upstream_url(url text, allow_local boolean DEFAULT false) -> boolean. True for an acceptable upstream URL: http or https, a host, no user name or password, a port 1..65535, and a host that is no localhost, loopback, private, shared, link-local, unspecified, multicast or reserved address in any encoding (with allow_local, localhost, loopback, private and shared hosts pass). Otherwise 23514 naming the problem, never echoing the URL; NULL in, NULL out; the rule keeps the service from being pointed at internal hosts, which it must still re-check after resolving DNS.';

CREATE TABLE @extschema@.upstreams (
  group_id             bigint      NOT NULL,
  id                   bigint      NOT NULL DEFAULT nextval('@extschema@.upstreams_id_seq'),
  url                  text        NOT NULL,
  cache_validity_hours smallint    NOT NULL DEFAULT 24,
  credentials          jsonb,
  credentials_fingerprint bytea    NOT NULL DEFAULT '\x'::bytea,
  name                 text        NOT NULL DEFAULT '',
  description          text,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT upstreams_pkey PRIMARY KEY (group_id, id),
  CONSTRAINT upstreams_url_credentials_key UNIQUE (group_id, url, credentials_fingerprint),
  CONSTRAINT upstreams_url_length_check CHECK (char_length(url) <= 255),
  -- CHECKs run in name order: "length" < "rules", so an over-long url is
  -- reported as too long before its host is examined.
  -- What no upstream url may ever be; the local-network rule, which follows
  -- containers_vreg.allow_local_upstreams, is the trigger upstreams_url_network.
  CONSTRAINT upstreams_url_rules_check CHECK (@extschema@.check_upstream_url(url, true)),
  CONSTRAINT upstreams_cache_validity_hours_check CHECK (cache_validity_hours >= 0),
  CONSTRAINT upstreams_name_check CHECK (char_length(name) <= 255),
  CONSTRAINT upstreams_description_check CHECK (char_length(description) <= 1024)
);
ALTER SEQUENCE @extschema@.upstreams_id_seq OWNED BY @extschema@.upstreams.id;
COMMENT ON TABLE @extschema@.upstreams IS
  'A registry that a virtual registry pulls from (Docker Hub, ghcr.io, quay.io, a private registry). credentials holds a sealed envelope, never plaintext.';
COMMENT ON COLUMN @extschema@.upstreams.cache_validity_hours IS
  'Hours a cached tag manifest stays fresh; 0 = every pull of a tag revalidates. Digest-addressed entries never go stale.';
COMMENT ON COLUMN @extschema@.upstreams.credentials_fingerprint IS
  'Keyed fingerprint of the plaintext credentials (empty when none): lets UNIQUE (group_id, url, credentials_fingerprint) refuse duplicates without storing plaintext.';

CREATE TRIGGER upstreams_row_guard BEFORE UPDATE ON @extschema@.upstreams
  FOR EACH ROW EXECUTE FUNCTION @extschema@.row_guard();

-- The local-network rule: refused unless containers_vreg.allow_local_upstreams
-- is on (a setting, so not in the immutable CHECK; src/upstream_url.c).
CREATE FUNCTION @extschema@.upstreams_url_network() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_upstreams_url_network'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.upstreams_url_network() IS
  'Trigger function (internal), BEFORE INSERT OR UPDATE OF url on upstreams: refuses (23514, the message of check_upstream_url) a new or changed url whose host is local (localhost, loopback, private, shared) unless containers_vreg.allow_local_upstreams is on; a superuser restore (check_function_bodies off) passes. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
REVOKE ALL ON FUNCTION @extschema@.upstreams_url_network() FROM PUBLIC;
CREATE TRIGGER upstreams_url_network BEFORE INSERT OR UPDATE OF url ON @extschema@.upstreams
  FOR EACH ROW EXECUTE FUNCTION @extschema@.upstreams_url_network();

-- registry_upstreams ----------------------------------------------------------
CREATE SEQUENCE @extschema@.registry_upstreams_id_seq;

CREATE TABLE @extschema@.registry_upstreams (
  group_id    bigint      NOT NULL,
  id          bigint      NOT NULL DEFAULT nextval('@extschema@.registry_upstreams_id_seq'),
  registry_id bigint      NOT NULL,
  upstream_id bigint      NOT NULL,
  -- No default: an omitted (NULL) position means "append" and the positions
  -- trigger fills it with n + 1 (GitLab has DEFAULT 1; a default that is
  -- always taken could not tell "append" from "put first"). NOT NULL and
  -- 1..5 hold for every stored row.
  position    smallint    NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT registry_upstreams_pkey PRIMARY KEY (group_id, id),
  CONSTRAINT registry_upstreams_upstream_key UNIQUE (group_id, registry_id, upstream_id),
  CONSTRAINT registry_upstreams_position_key UNIQUE (group_id, registry_id, position)
    DEFERRABLE INITIALLY DEFERRED,
  CONSTRAINT registry_upstreams_position_check CHECK (position BETWEEN 1 AND 5),
  CONSTRAINT registry_upstreams_registry_fkey FOREIGN KEY (group_id, registry_id)
    REFERENCES @extschema@.registries (group_id, id) ON DELETE CASCADE,
  CONSTRAINT registry_upstreams_upstream_fkey FOREIGN KEY (group_id, upstream_id)
    REFERENCES @extschema@.upstreams (group_id, id) ON DELETE CASCADE
);
ALTER SEQUENCE @extschema@.registry_upstreams_id_seq OWNED BY @extschema@.registry_upstreams.id;
CREATE INDEX registry_upstreams_upstream_idx
  ON @extschema@.registry_upstreams (group_id, upstream_id);
COMMENT ON TABLE @extschema@.registry_upstreams IS
  'Ordered link between a registry and an upstream. Positions of a registry are exactly 1..n (n <= 5) at every commit.';

CREATE TRIGGER registry_upstreams_row_guard BEFORE UPDATE ON @extschema@.registry_upstreams
  FOR EACH ROW EXECUTE FUNCTION @extschema@.row_guard('registry_id', 'upstream_id');

-- cache_entries (hash-partitioned by group_id) --------------------------------
CREATE FUNCTION @extschema@.object_storage_prefix(group_id bigint) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  -- Operators and cast are qualified: the body of an inlinable SQL function
  -- is parsed under the caller's search_path.
  AS $$ SELECT 'groups/' OPERATOR(pg_catalog.||) $1::pg_catalog.text OPERATOR(pg_catalog.||) '/' $$;
COMMENT ON FUNCTION @extschema@.object_storage_prefix(bigint) IS
  'object_storage_prefix(group_id bigint) -> text. The prefix every object-storage key of the group lies under, groups/<group_id>/, so a purge in one group can never name another group''s object. NULL in, NULL out; no errors.';

CREATE SEQUENCE @extschema@.cache_entries_id_seq;

CREATE TABLE @extschema@.cache_entries (
  group_id            bigint      NOT NULL,
  id                  bigint      NOT NULL DEFAULT nextval('@extschema@.cache_entries_id_seq'),
  upstream_id         bigint      NOT NULL,
  -- Paths, keys and digests compare bytewise (COLLATE "C"): equality is the
  -- same under any deterministic collation, and btree probes on these long
  -- keys skip the locale's strcoll().
  relative_path       text        COLLATE "C" NOT NULL,
  status              smallint    NOT NULL DEFAULT 0 /* live */,
  upstream_checked_at timestamptz NOT NULL DEFAULT now(),
  upstream_etag       text,
  size                bigint      NOT NULL,
  file                text        NOT NULL,
  object_storage_key  text        COLLATE "C" NOT NULL,
  content_type        text        NOT NULL DEFAULT 'application/octet-stream',
  file_md5            bytea,
  file_sha1           bytea       NOT NULL,
  digest              text        COLLATE "C",
  downloads_count     bigint      NOT NULL DEFAULT 0,
  downloaded_at       timestamptz NOT NULL DEFAULT now(),
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT cache_entries_pkey PRIMARY KEY (group_id, id),
  CONSTRAINT cache_entries_object_storage_key_key UNIQUE (group_id, object_storage_key),
  -- Text that an index holds is limited in bytes, as a btree entry is (at
  -- most 2704 bytes with 8 kB pages): relative_path and object_storage_key
  -- at most 1024 bytes, digest at most 135 by its pattern. The widest entry,
  -- (group_id, upstream_id, relative_path), is then at most 1056 bytes
  -- (8 header + 8 + 8 + 4 varlena header + 1024, aligned), whatever
  -- characters a raw INSERT uses. Text in no index counts characters.
  CONSTRAINT cache_entries_relative_path_check
    CHECK (octet_length(relative_path) BETWEEN 1 AND 1024 AND left(relative_path, 1) = '/'),
  CONSTRAINT cache_entries_status_check CHECK (status IN (0, 1, 2, 3) /* live, processing, pending destruction, error */),
  CONSTRAINT cache_entries_upstream_etag_check CHECK (char_length(upstream_etag) <= 255),
  CONSTRAINT cache_entries_size_check CHECK (size >= 0 AND size <= 1099511627776),
  CONSTRAINT cache_entries_file_check CHECK (char_length(file) BETWEEN 1 AND 1024),
  -- Object-storage keys: under the group's prefix, and only the characters
  -- every object store and URL builder takes literally (S3's "safe"
  -- characters): no percent-encoding, '?', '#', spaces, non-ASCII, no '.' or
  -- '..' segment, no empty segment, no trailing '/'.
  CONSTRAINT cache_entries_object_storage_key_check
    CHECK (octet_length(object_storage_key) <= 1024
           AND starts_with(object_storage_key, @extschema@.object_storage_prefix(group_id))
           AND octet_length(object_storage_key) > octet_length(@extschema@.object_storage_prefix(group_id))
           AND object_storage_key ~ '^[A-Za-z0-9!_.*''()/-]+$'
           AND object_storage_key !~ '(^|/)\.\.?(/|$)'
           AND object_storage_key !~ '//'
           AND right(object_storage_key, 1) <> '/'),
  CONSTRAINT cache_entries_content_type_check CHECK (char_length(content_type) BETWEEN 1 AND 255),
  CONSTRAINT cache_entries_file_md5_check CHECK (octet_length(file_md5) = 16),
  CONSTRAINT cache_entries_file_sha1_check CHECK (octet_length(file_sha1) = 20),
  CONSTRAINT cache_entries_digest_check
    CHECK (digest ~ '^sha256:[0-9a-f]{64}$' OR digest ~ '^sha512:[0-9a-f]{128}$'),
  CONSTRAINT cache_entries_downloads_count_check CHECK (downloads_count >= 0)
) PARTITION BY HASH (group_id);
ALTER SEQUENCE @extschema@.cache_entries_id_seq OWNED BY @extschema@.cache_entries.id;
COMMENT ON TABLE @extschema@.cache_entries IS
  'One cached manifest or blob of an upstream. Hash-partitioned by group_id. status: 0 live, 1 processing (claimed for destruction), 2 pending destruction, 3 error. At most one live entry per (group_id, upstream_id, relative_path).';
COMMENT ON COLUMN @extschema@.cache_entries.relative_path IS
  'Request path under /v2/ with a leading slash: /library/alpine/manifests/3.21, /library/alpine/blobs/sha256:... At most 1024 bytes (a btree entry is limited in bytes); printable ASCII when written through the API.';
COMMENT ON COLUMN @extschema@.cache_entries.size IS 'Bytes.';

-- The index predicates keep the literal status numbers (0 live): a query,
-- an ON CONFLICT arbiter or a C scan matches a partial index only through
-- the same literal predicate.
-- At most one live entry per (upstream, path); any number of non-live ones.
-- The path leads and the upstream comes last, so that one descent with
-- (group_id, relative_path) finds the live entry of that path in every
-- upstream of the group at once; resolve picks the winner by link position.
CREATE UNIQUE INDEX cache_entries_live_path_upstream_key
  ON @extschema@.cache_entries (group_id, relative_path, upstream_id) WHERE status = 0 /* live */;
-- Digest lookup: a digest path matches a live entry with that digest under
-- any name; one descent with (group_id, digest) finds them in every upstream.
CREATE INDEX cache_entries_live_digest_upstream_idx
  ON @extschema@.cache_entries (group_id, digest, upstream_id) WHERE status = 0 /* live */ AND digest IS NOT NULL;
-- Cleanup policy: live entries by last download.
CREATE INDEX cache_entries_live_downloaded_at_idx
  ON @extschema@.cache_entries (group_id, downloaded_at) WHERE status = 0 /* live */;
-- Destruction queue: everything that is not live, oldest change first.
CREATE INDEX cache_entries_destruction_idx
  ON @extschema@.cache_entries (status, updated_at) WHERE status <> 0 /* not live */;

CREATE TRIGGER cache_entries_row_guard BEFORE UPDATE ON @extschema@.cache_entries
  FOR EACH ROW EXECUTE FUNCTION @extschema@.row_guard('object_storage_key');

-- An entry that left the live state never becomes live again: it is being
-- destroyed (its object may already be gone) or was replaced.
CREATE FUNCTION @extschema@.cache_entries_status_guard() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_cache_entries_status_guard' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.cache_entries_status_guard() IS
  'Trigger function (internal), BEFORE UPDATE OF status on cache_entries: refuses (23514) a change from a non-live status (1 processing, 2 pending destruction, 3 error) back to 0 live, since the entry''s object may already be deleted. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
REVOKE ALL ON FUNCTION @extschema@.cache_entries_status_guard() FROM PUBLIC;
CREATE TRIGGER cache_entries_status_guard BEFORE UPDATE OF status ON @extschema@.cache_entries
  FOR EACH ROW EXECUTE FUNCTION @extschema@.cache_entries_status_guard();

-- Partitions: created by one function so that tests (and operators who split
-- the table) build partitions exactly the way the install script does.
CREATE FUNCTION @extschema@.create_hash_partitions(parent regclass, modulus integer)
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
COMMENT ON FUNCTION @extschema@.create_hash_partitions(regclass, integer) IS
  'create_hash_partitions(parent regclass, modulus integer) -> integer. Creates the partitions <parent>_00 .. <parent>_<modulus - 1> FOR VALUES WITH (MODULUS modulus, REMAINDER r) and returns modulus. Errors: 22023 modulus outside 1..1024; 22004 parent NULL; 42P01 unknown parent; any error of CREATE TABLE.';
REVOKE ALL ON FUNCTION @extschema@.create_hash_partitions(regclass, integer) FROM PUBLIC;

SELECT @extschema@.create_hash_partitions('@extschema@.cache_entries', 16);

-- pg_dump keeps the user data: every partition (registering the parent dumps
-- no rows) and every sequence. Derived state (download buffer) is not dumped.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.registries', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.upstreams', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.registry_upstreams', '');
DO $$
DECLARE part regclass;
BEGIN
  -- one call per statement: pg_extension_config_dump updates pg_extension
  FOR part IN SELECT inhrelid::regclass FROM pg_catalog.pg_inherits
               WHERE inhparent = '@extschema@.cache_entries'::regclass ORDER BY 1
  LOOP
    PERFORM pg_catalog.pg_extension_config_dump(part, '');
  END LOOP;
END $$;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.registries_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.upstreams_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.registry_upstreams_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.cache_entries_id_seq', '');

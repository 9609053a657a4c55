-- containers_vreg scale-out, shard side (docs/scaling.md).
-- Run on every shard database after CREATE EXTENSION containers_vreg:
--   psql -d <shard db> -v ON_ERROR_STOP=1 -f sql/router/containers_vreg_shard.sql
-- PL/Proxy forwards function calls only, so the admin changes a router must
-- forward are functions here: plain SQL over the extension's tables, with the
-- table rules (CHECK constraints, triggers, the 5-registries limit) deciding.
-- The request path (resolve, upsert_cache_entry, mark_checked,
-- record_download, begin_fetch, release_fetch, store_cache_entry), the
-- position functions (attach_upstream, move_upstream, detach_upstream,
-- delete_registry, registry_upstreams), upstream_credentials and the worker's
-- (flush_downloads, claim_for_destruction, finish_destruction,
-- fail_destruction, prune_fetch_leases) are the extension's own and are
-- forwarded as they are.

CREATE SCHEMA IF NOT EXISTS vreg_shard;
REVOKE ALL ON SCHEMA vreg_shard FROM PUBLIC;

CREATE OR REPLACE FUNCTION vreg_shard.create_registry(group_id bigint, name text, description text DEFAULT NULL)
RETURNS bigint LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO containers_vreg.registries (group_id, name, description)
  VALUES ($1, $2, $3) RETURNING id
$$;
COMMENT ON FUNCTION vreg_shard.create_registry(bigint, text, text) IS
  'create_registry(group_id, name, description) -> bigint: inserts a registry and returns its id (ids are unique per shard). Errors: those of the registries table (23505 duplicate name, 23514 limits).';

CREATE OR REPLACE FUNCTION vreg_shard.create_upstream(group_id bigint, url text, name text DEFAULT '',
  description text DEFAULT NULL, cache_validity_hours smallint DEFAULT 24, credentials jsonb DEFAULT NULL)
RETURNS bigint LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO containers_vreg.upstreams (group_id, url, name, description, cache_validity_hours, credentials)
  VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
$$;
COMMENT ON FUNCTION vreg_shard.create_upstream(bigint, text, text, text, smallint, jsonb) IS
  'create_upstream(group_id, url, name, description, cache_validity_hours, credentials) -> bigint: inserts an upstream and returns its id. credentials are sealed by the shard with its keyring (the same keyring on every shard). Errors: those of the upstreams table (23514 url rules, 23505 duplicate url and credentials).';

CREATE OR REPLACE FUNCTION vreg_shard.delete_upstream(group_id bigint, upstream_id bigint)
RETURNS boolean LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  WITH d AS (DELETE FROM containers_vreg.upstreams u WHERE u.group_id = $1 AND u.id = $2 RETURNING 1)
  SELECT count(*) > 0 FROM d
$$;
COMMENT ON FUNCTION vreg_shard.delete_upstream(bigint, bigint) IS
  'delete_upstream(group_id, upstream_id) -> boolean: deletes the upstream (its links cascade, later positions move up); false when it did not exist.';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA vreg_shard FROM PUBLIC;

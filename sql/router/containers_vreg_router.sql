-- containers_vreg scale-out, router side (docs/scaling.md).
-- Run in the router database after the cluster 'vreg' is defined:
--   CREATE EXTENSION plproxy;
--   CREATE EXTENSION containers_vreg;   -- row types and cache_entry_shard(); its tables stay empty here
--   CREATE SERVER vreg FOREIGN DATA WRAPPER plproxy
--     OPTIONS (p0 'host=... dbname=...', p1 'host=... dbname=...');   -- a power of two of shards
--   CREATE USER MAPPING FOR PUBLIC SERVER vreg OPTIONS (user '...');
--   psql -d <router db> -v ON_ERROR_STOP=1 -f sql/router/containers_vreg_router.sql
-- Every function runs on the one shard that owns the group:
-- cache_entry_shard(group_id, 1024), which PL/Proxy masks with (shards - 1),
-- equals cache_entry_shard(group_id, shards) for any power-of-two cluster of
-- up to 1024 shards, so this file does not depend on the shard count.
-- Partition pN of the server is shard N.

CREATE SCHEMA IF NOT EXISTS vreg_router;
REVOKE ALL ON SCHEMA vreg_router FROM PUBLIC;

CREATE OR REPLACE FUNCTION vreg_router.shard_of(group_id bigint) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT containers_vreg.cache_entry_shard(group_id, 1024)
$$;
COMMENT ON FUNCTION vreg_router.shard_of(bigint) IS
  'shard_of(group_id) -> integer: the PL/Proxy RUN ON hash of a group, containers_vreg.cache_entry_shard(group_id, 1024); PL/Proxy keeps the low bits (hash & (shards - 1)).';

-- request path ---------------------------------------------------------------
CREATE OR REPLACE FUNCTION vreg_router.resolve(group_id bigint, registry_id bigint, path text,
  OUT result text, OUT entry_id bigint, OUT upstream_id bigint, OUT "position" smallint,
  OUT relative_path text, OUT object_storage_key text, OUT file text, OUT size bigint,
  OUT content_type text, OUT upstream_etag text, OUT digest text)
RETURNS record LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.resolve;
$$;

CREATE OR REPLACE FUNCTION vreg_router.upsert_cache_entry(group_id bigint, upstream_id bigint, path text,
  size bigint, file text, file_sha1 bytea, content_type text DEFAULT NULL, upstream_etag text DEFAULT NULL,
  file_md5 bytea DEFAULT NULL, object_storage_key text DEFAULT NULL)
RETURNS containers_vreg.cache_entries LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.upsert_cache_entry;
$$;

CREATE OR REPLACE FUNCTION vreg_router.mark_checked(group_id bigint, entry_id bigint)
RETURNS void LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.mark_checked;
$$;

CREATE OR REPLACE FUNCTION vreg_router.record_download(group_id bigint, entry_id bigint)
RETURNS void LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.record_download;
$$;

-- admin (shard side: sql/router/containers_vreg_shard.sql) ---------------------
CREATE OR REPLACE FUNCTION vreg_router.create_registry(group_id bigint, name text, description text DEFAULT NULL)
RETURNS bigint LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET vreg_shard.create_registry;
$$;

CREATE OR REPLACE FUNCTION vreg_router.create_upstream(group_id bigint, url text, name text DEFAULT '',
  description text DEFAULT NULL, cache_validity_hours smallint DEFAULT 24, credentials jsonb DEFAULT NULL)
RETURNS bigint LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET vreg_shard.create_upstream;
$$;

-- upstream order and registry deletion: the extension's own functions
CREATE OR REPLACE FUNCTION vreg_router.attach_upstream(group_id bigint, registry_id bigint, upstream_id bigint)
RETURNS smallint LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.attach_upstream;
$$;

CREATE OR REPLACE FUNCTION vreg_router.move_upstream(group_id bigint, registry_id bigint, upstream_id bigint,
  "position" integer)
RETURNS smallint LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.move_upstream;
$$;

CREATE OR REPLACE FUNCTION vreg_router.detach_upstream(group_id bigint, registry_id bigint, upstream_id bigint)
RETURNS void LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.detach_upstream;
$$;

CREATE OR REPLACE FUNCTION vreg_router.delete_registry(group_id bigint, registry_id bigint)
RETURNS integer LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.delete_registry;
$$;

CREATE OR REPLACE FUNCTION vreg_router.registry_upstreams(group_id bigint, registry_id bigint,
  OUT "position" smallint, OUT upstream_id bigint, OUT url text, OUT name text,
  OUT cache_validity_hours smallint)
RETURNS SETOF record LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.registry_upstreams;
$$;

-- the fetcher's call: opened on the shard, with the keyring every shard shares
CREATE OR REPLACE FUNCTION vreg_router.upstream_credentials(group_id bigint, upstream_id bigint)
RETURNS jsonb LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.upstream_credentials;
$$;

CREATE OR REPLACE FUNCTION vreg_router.delete_upstream(group_id bigint, upstream_id bigint)
RETURNS boolean LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET vreg_shard.delete_upstream;
$$;

DO $$
DECLARE f regprocedure;
BEGIN
  FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'vreg_router'::regnamespace AND p.proname <> 'shard_of'
  LOOP
    EXECUTE format('COMMENT ON FUNCTION %s IS %L', f,
      format('%s: PL/Proxy forwarder to the shard owning group_id (RUN ON vreg_router.shard_of(group_id)); same arguments, result and errors as the shard function it targets.', f));
  END LOOP;
END $$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA vreg_router FROM PUBLIC;

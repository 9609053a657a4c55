-- containers_vreg scale-out, router side (docs/scaling.md).
-- Run in the router database after the cluster 'vreg' is defined:
--   CREATE EXTENSION plproxy;
--   CREATE EXTENSION containers_vreg;   -- row types and cache_entry_shard(); its tables stay empty here
--   CREATE SERVER vreg FOREIGN DATA WRAPPER plproxy
--     OPTIONS (p0 'host=... dbname=...', p1 'host=... dbname=...');   -- a power of two of shards
--   CREATE USER MAPPING FOR PUBLIC SERVER vreg OPTIONS (user '...');
--   psql -d <router db> -v ON_ERROR_STOP=1 -f sql/router/containers_vreg_router.sql
-- Every function but the worker's fan-out ones runs on the one shard that
-- owns the group: cache_entry_shard(group_id, 1024), which PL/Proxy masks with (shards - 1),
-- equals cache_entry_shard(group_id, shards) for any power-of-two cluster of
-- up to 1024 shards, so this file does not depend on the shard count.
-- Partition pN of the server is shard N. Every target is a function of the
-- extension, so a shard needs CREATE EXTENSION containers_vreg and nothing else.

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

-- a miss: lease the fetch and get a key, give the lease back, store the entry
CREATE OR REPLACE FUNCTION vreg_router.begin_fetch(group_id bigint, upstream_id bigint, path text,
  replacing bigint DEFAULT NULL, lease interval DEFAULT '30 seconds')
RETURNS text LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.begin_fetch;
$$;

CREATE OR REPLACE FUNCTION vreg_router.renew_fetch(group_id bigint, upstream_id bigint, path text,
  object_storage_key text, lease interval DEFAULT '30 seconds')
RETURNS boolean LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.renew_fetch;
$$;

CREATE OR REPLACE FUNCTION vreg_router.release_fetch(group_id bigint, upstream_id bigint, path text)
RETURNS boolean LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.release_fetch;
$$;

CREATE OR REPLACE FUNCTION vreg_router.store_cache_entry(group_id bigint, upstream_id bigint, path text,
  object_storage_key text, size bigint, file_sha1 bytea, content_type text, digest text,
  upstream_etag text DEFAULT NULL, file_md5 bytea DEFAULT NULL, file text DEFAULT NULL)
RETURNS containers_vreg.cache_entries LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.store_cache_entry;
$$;

-- the destruction worker: an entry's end goes to its group's shard ...........
CREATE OR REPLACE FUNCTION vreg_router.finish_destruction(group_id bigint, entry_id bigint)
RETURNS boolean LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.finish_destruction;
$$;

CREATE OR REPLACE FUNCTION vreg_router.fail_destruction(group_id bigint, entry_id bigint)
RETURNS boolean LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.fail_destruction;
$$;

-- the sweep asks the shard of the group that the object's key names
CREATE OR REPLACE FUNCTION vreg_router.unreferenced_objects(group_id bigint, object_storage_keys text[])
RETURNS SETOF text LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.unreferenced_objects;
$$;

-- ... and the calls that are for every group run on every shard (RUN ON ALL):
-- claims come from each shard (up to batch from each), counts are summed.
CREATE OR REPLACE FUNCTION vreg_router.claim_for_destruction(batch integer, lease interval DEFAULT '1 hour')
RETURNS TABLE (group_id bigint, entry_id bigint, object_storage_key text, file text, size bigint)
LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON ALL;
  TARGET containers_vreg.claim_for_destruction;
$$;

CREATE OR REPLACE FUNCTION vreg_router.flush_downloads_on_each_shard()
RETURNS SETOF bigint LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON ALL;
  TARGET containers_vreg.flush_downloads;
$$;

CREATE OR REPLACE FUNCTION vreg_router.flush_downloads() RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(sum(n), 0)::bigint FROM vreg_router.flush_downloads_on_each_shard() AS n
$$;

CREATE OR REPLACE FUNCTION vreg_router.prune_fetch_leases_on_each_shard()
RETURNS SETOF bigint LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON ALL;
  TARGET containers_vreg.prune_fetch_leases;
$$;

CREATE OR REPLACE FUNCTION vreg_router.prune_fetch_leases() RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(sum(n), 0)::bigint FROM vreg_router.prune_fetch_leases_on_each_shard() AS n
$$;

-- registries and upstreams: the extension's own functions (SECURITY INVOKER on
-- the shard: the table privileges of the role the router connects as decide)
CREATE OR REPLACE FUNCTION vreg_router.create_registry(group_id bigint, name text, description text DEFAULT NULL)
RETURNS bigint LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.create_registry;
$$;

CREATE OR REPLACE FUNCTION vreg_router.create_upstream(group_id bigint, url text, name text DEFAULT '',
  description text DEFAULT NULL, cache_validity_hours smallint DEFAULT 24, credentials jsonb DEFAULT NULL)
RETURNS bigint LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.create_upstream;
$$;

CREATE OR REPLACE FUNCTION vreg_router.update_upstream(group_id bigint, upstream_id bigint,
  url text DEFAULT NULL, name text DEFAULT NULL, description text DEFAULT NULL,
  cache_validity_hours smallint DEFAULT NULL, credentials jsonb DEFAULT NULL,
  clear_credentials boolean DEFAULT false)
RETURNS void LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.update_upstream;
$$;

CREATE OR REPLACE FUNCTION vreg_router.delete_upstream(group_id bigint, upstream_id bigint)
RETURNS boolean LANGUAGE plproxy AS $$
  CLUSTER 'vreg';
  RUN ON vreg_router.shard_of(group_id);
  TARGET containers_vreg.delete_upstream;
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

DO $$
DECLARE f regprocedure;
BEGIN
  FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'vreg_router'::regnamespace
              AND p.proname NOT IN ('shard_of', 'claim_for_destruction', 'flush_downloads',
                                    'flush_downloads_on_each_shard', 'prune_fetch_leases',
                                    'prune_fetch_leases_on_each_shard')
  LOOP
    EXECUTE format('COMMENT ON FUNCTION %s IS %L', f,
      format('%s: PL/Proxy forwarder to the shard owning group_id (RUN ON vreg_router.shard_of(group_id)); same arguments, result and errors as the shard function it targets.', f));
  END LOOP;
END $$;

COMMENT ON FUNCTION vreg_router.claim_for_destruction(integer, interval) IS
  'claim_for_destruction(batch, lease) -> setof (group_id, entry_id, object_storage_key, file, size): PL/Proxy RUN ON ALL of containers_vreg.claim_for_destruction: up to batch claimed entries from each shard (so up to batch x shards in all); finish_destruction and fail_destruction go back to the owning shard by group_id.';
COMMENT ON FUNCTION vreg_router.flush_downloads_on_each_shard() IS
  'flush_downloads_on_each_shard() -> setof bigint: PL/Proxy RUN ON ALL of containers_vreg.flush_downloads, one count per shard (vreg_router.flush_downloads sums them).';
COMMENT ON FUNCTION vreg_router.flush_downloads() IS
  'flush_downloads() -> bigint: containers_vreg.flush_downloads on every shard; the sum of their counts.';
COMMENT ON FUNCTION vreg_router.prune_fetch_leases_on_each_shard() IS
  'prune_fetch_leases_on_each_shard() -> setof bigint: PL/Proxy RUN ON ALL of containers_vreg.prune_fetch_leases, one count per shard (vreg_router.prune_fetch_leases sums them).';
COMMENT ON FUNCTION vreg_router.prune_fetch_leases() IS
  'prune_fetch_leases() -> bigint: containers_vreg.prune_fetch_leases on every shard; the sum of their counts.';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA vreg_router FROM PUBLIC;

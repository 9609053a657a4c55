-- containers_vreg install script, generated from sql/install/*.sql by `make`.
-- Do not edit sql/containers_vreg--<version>.sql by hand.

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION containers_vreg" to load this file. \quit

-- The schema is fixed (relocatable = false) and created by CREATE EXTENSION
-- from the control file. Nothing in it is usable by PUBLIC unless granted.
REVOKE ALL ON SCHEMA @extschema@ FROM PUBLIC;
COMMENT ON SCHEMA @extschema@ IS
  'containers_vreg: registries, upstreams, ordered registry_upstreams and hash-partitioned cache_entries of a container-image virtual registry';

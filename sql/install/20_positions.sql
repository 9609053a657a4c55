-- ---------------------------------------------------------------------------
-- Upstream positions (docs/design.md, "Upstream order"). The
-- rules live in C (src/positions.c) and hold for plain DML from any client.
-- ---------------------------------------------------------------------------

COMMENT ON COLUMN @extschema@.registry_upstreams.position IS
  'Place of the upstream in the registry''s lookup order, 1..n (n <= 5), exactly 1..n at every commit. Omitted (or NULL) on INSERT: appended after the last link. An explicit free position is kept (a restore keeps its order); an explicit taken one is inserted there, later links move down.';

CREATE FUNCTION @extschema@.positions_before_insert() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_positions_before_insert'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.positions_before_insert() IS
  'Trigger function (internal), BEFORE INSERT on registry_upstreams: locks the registry row, refuses (23514) a 6th link, appends a link without a position after the last one, keeps a free explicit position and makes room at a taken one, so a registry''s positions stay 1..n. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
REVOKE ALL ON FUNCTION @extschema@.positions_before_insert() FROM PUBLIC;

CREATE FUNCTION @extschema@.positions_before_update() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_positions_before_update'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.positions_before_update() IS
  'Trigger function (internal), BEFORE UPDATE OF position on registry_upstreams: locks the registry row, refuses (22023) a position below 1 and caps one beyond the number of links n at n, as move_upstream does. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
REVOKE ALL ON FUNCTION @extschema@.positions_before_update() FROM PUBLIC;

CREATE FUNCTION @extschema@.positions_after_update() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_positions_after_update'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.positions_after_update() IS
  'Trigger function (internal), AFTER UPDATE statement trigger on registry_upstreams: where a statement moved exactly one link of a registry, the links in between shift by one place; several changed links of one registry are taken as given (positions_check checks them at commit). Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
REVOKE ALL ON FUNCTION @extschema@.positions_after_update() FROM PUBLIC;

CREATE FUNCTION @extschema@.positions_after_delete() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_positions_after_delete'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.positions_after_delete() IS
  'Trigger function (internal), AFTER DELETE statement trigger on registry_upstreams (cascades included): locks the affected registries in id order and moves every remaining link up by the number of deleted links before it, so the positions stay 1..n. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
REVOKE ALL ON FUNCTION @extschema@.positions_after_delete() FROM PUBLIC;

CREATE FUNCTION @extschema@.positions_check() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_positions_check'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.positions_check() IS
  'Trigger function (internal), deferred constraint trigger on registry_upstreams: at commit the positions of every touched registry must be exactly 1..n with n at most 5, otherwise 23514 naming the registry and the positions found. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
REVOKE ALL ON FUNCTION @extschema@.positions_check() FROM PUBLIC;

CREATE FUNCTION @extschema@.upstreams_lock_registries() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_upstreams_lock_registries'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.upstreams_lock_registries() IS
  'Trigger function (internal), BEFORE DELETE on upstreams: locks the rows of the upstream''s registries in id order before its links cascade, so concurrent changes of those registries wait instead of deadlocking. Fired anywhere but as the extension''s own trigger (another relation, timing, level or event, or called directly): 39P01; not executable by PUBLIC.';
REVOKE ALL ON FUNCTION @extschema@.upstreams_lock_registries() FROM PUBLIC;

-- Trigger names sort after registry_upstreams_row_guard, so the immutable
-- columns are refused before any position work starts.
CREATE TRIGGER registry_upstreams_slot_insert
  BEFORE INSERT ON @extschema@.registry_upstreams
  FOR EACH ROW EXECUTE FUNCTION @extschema@.positions_before_insert();
CREATE TRIGGER registry_upstreams_slot_update
  BEFORE UPDATE OF position ON @extschema@.registry_upstreams
  FOR EACH ROW EXECUTE FUNCTION @extschema@.positions_before_update();
CREATE TRIGGER registry_upstreams_slot_move
  AFTER UPDATE ON @extschema@.registry_upstreams
  REFERENCING OLD TABLE AS vreg_old_links NEW TABLE AS vreg_new_links
  FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.positions_after_update();
CREATE TRIGGER registry_upstreams_slot_compact
  AFTER DELETE ON @extschema@.registry_upstreams
  REFERENCING OLD TABLE AS vreg_old_links
  FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.positions_after_delete();
CREATE CONSTRAINT TRIGGER registry_upstreams_slot_check
  AFTER INSERT OR DELETE OR UPDATE OF position ON @extschema@.registry_upstreams
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION @extschema@.positions_check();
CREATE TRIGGER upstreams_lock_registries
  BEFORE DELETE ON @extschema@.upstreams
  FOR EACH ROW EXECUTE FUNCTION @extschema@.upstreams_lock_registries();

-- API -------------------------------------------------------------------------
CREATE FUNCTION @extschema@.attach_upstream(group_id bigint, registry_id bigint, upstream_id bigint)
RETURNS smallint
AS 'MODULE_PATHNAME', 'containers_vreg_attach_upstream'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.attach_upstream(bigint, bigint, bigint) IS
  'attach_upstream(group_id bigint, registry_id bigint, upstream_id bigint) -> smallint. Links the upstream to the registry after its last upstream and returns the new position. Errors: 22004 NULL argument; P0002 upstream or registry not in the group; 23505 already linked; 23514 a 6th upstream (at most 5 per registry).';

CREATE FUNCTION @extschema@.move_upstream(group_id bigint, registry_id bigint, upstream_id bigint, "position" integer)
RETURNS smallint
AS 'MODULE_PATHNAME', 'containers_vreg_move_upstream'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.move_upstream(bigint, bigint, bigint, integer) IS
  'move_upstream(group_id bigint, registry_id bigint, upstream_id bigint, position integer) -> smallint. Moves the upstream to position (1-based; beyond the last link means last) and shifts the links in between by one; returns the final position. Errors: 22004 NULL argument; 22023 position below 1; P0002 registry not in the group or upstream not linked to it.';

CREATE FUNCTION @extschema@.detach_upstream(group_id bigint, registry_id bigint, upstream_id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'containers_vreg_detach_upstream'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.detach_upstream(bigint, bigint, bigint) IS
  'detach_upstream(group_id bigint, registry_id bigint, upstream_id bigint) -> void. Removes the link and moves every later link of the registry up one place; the upstream itself stays. Errors: 22004 NULL argument; P0002 registry not in the group or upstream not linked to it.';

CREATE FUNCTION @extschema@.delete_registry(group_id bigint, registry_id bigint)
RETURNS integer
AS 'MODULE_PATHNAME', 'containers_vreg_delete_registry'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.delete_registry(bigint, bigint) IS
  'delete_registry(group_id bigint, registry_id bigint) -> integer. Deletes the registry (its links cascade) and every upstream linked to it and to no other registry, as GitLab does, and returns how many upstreams it deleted. Errors: 22004 NULL argument; P0002 registry not in the group.';

CREATE FUNCTION @extschema@.registry_upstreams(group_id bigint, registry_id bigint)
RETURNS TABLE ("position" smallint, upstream_id bigint, url text, name text, cache_validity_hours smallint)
AS 'MODULE_PATHNAME', 'containers_vreg_registry_upstreams'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.registry_upstreams(bigint, bigint) IS
  'registry_upstreams(group_id bigint, registry_id bigint) -> setof (position smallint, upstream_id bigint, url text, name text, cache_validity_hours smallint). The registry''s upstreams in lookup order, never their credentials; writes nothing. Errors: 22004 NULL argument; P0002 registry not in the group.';

REVOKE ALL ON FUNCTION @extschema@.attach_upstream(bigint, bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.move_upstream(bigint, bigint, bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.detach_upstream(bigint, bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.delete_registry(bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.registry_upstreams(bigint, bigint) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Upstream positions (DESIGN section 3, registry_upstreams; issue 3). The
-- rules live in C (src/positions.c) and hold for plain DML from any client.
-- ---------------------------------------------------------------------------

COMMENT ON COLUMN @extschema@.registry_upstreams.position IS
  'Place of the upstream in the registry''s lookup order, 1..n (n <= 5), exactly 1..n at every commit. Omitted (or NULL) on INSERT: appended after the last link. An explicit free position is kept (a restore keeps its order); an explicit taken one is inserted there, later links move down.';

CREATE FUNCTION @extschema@.positions_before_insert() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_positions_before_insert'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.positions_before_insert() IS
  'Trigger (internal): BEFORE INSERT row trigger on registry_upstreams. Locks the registry row, refuses a 6th link (SQLSTATE 23514), appends a link without position at max + 1, keeps a free explicit position, and for a taken one moves the run of links at and after it down one place. Rule: the positions of a registry''s links are 1..n at every commit. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
REVOKE ALL ON FUNCTION @extschema@.positions_before_insert() FROM PUBLIC;

CREATE FUNCTION @extschema@.positions_before_update() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_positions_before_update'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.positions_before_update() IS
  'Trigger (internal): BEFORE UPDATE row trigger on registry_upstreams. When position changes: locks the registry row, refuses a position below 1 (SQLSTATE 22023) and caps one beyond the number of links n at n, as move_upstream does. Rule: the positions of a registry''s links are 1..n at every commit. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
REVOKE ALL ON FUNCTION @extschema@.positions_before_update() FROM PUBLIC;

CREATE FUNCTION @extschema@.positions_after_update() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_positions_after_update'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.positions_after_update() IS
  'Trigger (internal): AFTER UPDATE statement trigger on registry_upstreams. In every registry where the statement changed the position of exactly one link, the links in between shift by one place (a move); several changed links of one registry are taken as given. Rule: the positions of a registry''s links are 1..n at every commit. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
REVOKE ALL ON FUNCTION @extschema@.positions_after_update() FROM PUBLIC;

CREATE FUNCTION @extschema@.positions_after_delete() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_positions_after_delete'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.positions_after_delete() IS
  'Trigger (internal): AFTER DELETE statement trigger on registry_upstreams (also for the cascades from a deleted upstream or registry). Locks the affected registries in id order; every remaining link moves up by the number of deleted links before it. Rule: the positions of a registry''s links are 1..n at every commit. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
REVOKE ALL ON FUNCTION @extschema@.positions_after_delete() FROM PUBLIC;

CREATE FUNCTION @extschema@.positions_check() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_positions_check'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.positions_check() IS
  'Trigger (internal): deferred constraint trigger on registry_upstreams. At commit the positions of every touched registry are exactly 1..n, n <= 5; otherwise SQLSTATE 23514 naming the registry and the positions found. Rule: the positions of a registry''s links are exactly 1..n at every commit. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
REVOKE ALL ON FUNCTION @extschema@.positions_check() FROM PUBLIC;

CREATE FUNCTION @extschema@.upstreams_lock_registries() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_upstreams_lock_registries'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.upstreams_lock_registries() IS
  'Trigger (internal): BEFORE DELETE row trigger on upstreams. Locks the rows of the registries the upstream is linked to, in id order, before its links cascade. Rule: deleting an upstream locks its registries in id order first, so concurrent changes wait for each other instead of deadlocking. It fires only as the trigger the extension defines for it (on that table or a partition of it, at that timing, level and event) and is not executable by PUBLIC (a trigger fires without EXECUTE); fired on any other relation or at another timing, level or event, or called directly: 39P01.';
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
  'attach_upstream(group_id bigint, registry_id bigint, upstream_id bigint) -> smallint. Links the upstream to the registry after its last upstream and returns the new position (n + 1). Locks the upstream (FOR KEY SHARE) then the registry row. Errors: 22004 for a NULL argument; P0002 for an upstream or registry that does not exist in the group; 23505 when already linked; 23514 for a 6th upstream (limit 5). Rule: DESIGN section 3 (insert without a position appends; GitLab: max + 1).';

CREATE FUNCTION @extschema@.move_upstream(group_id bigint, registry_id bigint, upstream_id bigint, "position" integer)
RETURNS smallint
AS 'MODULE_PATHNAME', 'containers_vreg_move_upstream'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.move_upstream(bigint, bigint, bigint, integer) IS
  'move_upstream(group_id bigint, registry_id bigint, upstream_id bigint, position integer) -> smallint. Moves the upstream to position (1-based) in the registry; the links in between shift by one; a position beyond the number of links n is capped at n; moving to the current position updates nothing. Returns the final position. Only that registry''s rows change. Errors: 22004 for a NULL argument; 22023 for a position below 1; P0002 for a registry not in the group or an upstream not linked to it. Rule: DESIGN section 3 (move).';

CREATE FUNCTION @extschema@.detach_upstream(group_id bigint, registry_id bigint, upstream_id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'containers_vreg_detach_upstream'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.detach_upstream(bigint, bigint, bigint) IS
  'detach_upstream(group_id bigint, registry_id bigint, upstream_id bigint) -> void. Removes the link; every later link of the registry moves up one place. The upstream itself is kept. Errors: 22004 for a NULL argument; P0002 for a registry not in the group or an upstream not linked to it. Rule: DESIGN section 3 (delete a link).';

CREATE FUNCTION @extschema@.delete_registry(group_id bigint, registry_id bigint)
RETURNS integer
AS 'MODULE_PATHNAME', 'containers_vreg_delete_registry'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.delete_registry(bigint, bigint) IS
  'delete_registry(group_id bigint, registry_id bigint) -> integer. Deletes the registry (its links cascade) and every upstream that was linked to it and to no other registry; returns how many upstreams it deleted. A plain DELETE of a registry keeps its upstreams. Errors: 22004 for a NULL argument; P0002 for a registry not in the group. Rule: DESIGN section 3; GitLab deletes a registry''s exclusive upstreams with it.';

CREATE FUNCTION @extschema@.registry_upstreams(group_id bigint, registry_id bigint)
RETURNS TABLE ("position" smallint, upstream_id bigint, url text, name text, cache_validity_hours smallint)
AS 'MODULE_PATHNAME', 'containers_vreg_registry_upstreams'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.registry_upstreams(bigint, bigint) IS
  'registry_upstreams(group_id bigint, registry_id bigint) -> TABLE(position smallint, upstream_id bigint, url text, name text, cache_validity_hours smallint). The registry''s upstreams in position order (cache_validity_hours in hours); never credentials. Writes nothing. Errors: 22004 for a NULL argument; P0002 for a registry not in the group. Rule: DESIGN section 3 (lookup order).';

REVOKE ALL ON FUNCTION @extschema@.attach_upstream(bigint, bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.move_upstream(bigint, bigint, bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.detach_upstream(bigint, bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.delete_registry(bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.registry_upstreams(bigint, bigint) FROM PUBLIC;

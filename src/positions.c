/*
 * positions.c
 *		The order of a registry's upstreams (docs/design.md, "Upstream
 *		order"): triggers that keep positions 1..n (n <= 5) under
 *		plain DML from any client, and the functions attach_upstream,
 *		move_upstream, detach_upstream, delete_registry and
 *		registry_upstreams.
 *
 * Rules (the README's "Upstream order" section is the user-facing version):
 *
 *	* INSERT without a position (the column has no default, so NULL) appends
 *	  at max + 1; an explicit position that is free is kept (so rows arriving
 *	  in any order, as in a restore, keep their exact positions); an explicit
 *	  position that is taken is inserted there and the run of links at and
 *	  after it moves down one place. A 6th link is refused (23514).
 *	* UPDATE of position: a position below 1 is 22023, one above n is capped
 *	  at n. A statement that changes the position of exactly one link of a
 *	  registry is a move: the links in between shift by one (after the
 *	  statement). A statement that changes several links of a registry is
 *	  taken as given.
 *	* DELETE (also the cascades from a deleted upstream or registry): after
 *	  the statement, every remaining link moves up by the number of deleted
 *	  links before it.
 *	* At commit (deferred constraint trigger) the positions of every touched
 *	  registry must be exactly 1..n.
 *
 * Concurrency: every path first locks the registry row FOR NO KEY UPDATE,
 * and all reads and writes of links are done with the latest snapshot (as
 * the RI triggers do), so concurrent changes of one registry are serialised
 * and each sees the other's committed result. Under REPEATABLE READ and
 * SERIALIZABLE our writes use the transaction snapshot as crosscheck: a link
 * that changed after the transaction's snapshot makes the statement fail
 * with 40001 instead of acting on a stale view. Deleting an upstream locks
 * its registries in id order before its links cascade.
 *
 * Recursion: the shifts done by these triggers are UPDATEs of the same
 * table. They are run with internal_depth set to the trigger depth at which
 * their own triggers fire; those invocations recognise themselves and do
 * nothing. The value is restored on the way out (PG_FINALLY), also on error,
 * so it can never leak into another statement or transaction.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "containers_vreg.h"
#include "positions.h"
#include "vreg_common.h"

/* Trigger depth of the triggers fired by our own shifting UPDATEs; 0: none. */
static int	internal_depth = 0;

static int
current_trigger_depth(void)
{
	return DatumGetInt32(OidFunctionCall0(F_PG_TRIGGER_DEPTH));
}

/* True when this trigger invocation was fired by one of our own shifts. */
static bool
fired_by_internal_shift(void)
{
	return internal_depth > 0 && current_trigger_depth() == internal_depth;
}

/* Run one of our own shifting UPDATEs; its triggers know they are internal. */
static uint64
run_internal_shift(VregPlan *plan, Datum *values)
{
	int			saved = internal_depth;
	uint64		processed = 0;

	internal_depth = current_trigger_depth() + 1;
	PG_TRY();
	{
		vreg_spi_run(plan, values, NULL, VREG_SPI_LATEST_WRITE, 0);
		processed = SPI_processed;
	}
	PG_FINALLY();
	{
		internal_depth = saved;
	}
	PG_END_TRY();
	return processed;
}

/* Column colname of tuple (a row of rel) as int64; *isnull set. */
static int64
tuple_int64(Relation rel, HeapTuple tuple, const char *colname, bool *isnull)
{
	Datum		d = heap_getattr(tuple, vreg_attnum(rel, colname), RelationGetDescr(rel), isnull);

	return *isnull ? 0 : DatumGetInt64(d);
}

/* ------------------------------------------------------------------------
 * Locks and errors
 * ------------------------------------------------------------------------
 */

bool
vreg_lock_registry(int64 group_id, int64 registry_id)
{
	static VregPlan plan = {
		"SELECT 1 FROM " VREG_SCHEMA ".registries"
		" WHERE group_id = $1 AND id = $2 FOR NO KEY UPDATE",
		2, {INT8OID, INT8OID}
	};
	Datum		values[2];

	values[0] = Int64GetDatum(group_id);
	values[1] = Int64GetDatum(registry_id);
	vreg_spi_run(&plan, values, NULL, VREG_SPI_LATEST, 0);
	return SPI_processed > 0;
}

static void
refuse_sixth(Relation rel, int64 registry_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("registry %lld already has %d upstreams, the limit",
					(long long) registry_id, VREG_MAX_UPSTREAMS_PER_REGISTRY),
			 errdetail("A registry may have at most %d upstreams.",
					   VREG_MAX_UPSTREAMS_PER_REGISTRY),
			 errhint("Detach an upstream from the registry first."),
			 rel ? errtable(rel) : 0));
}

static void
refuse_below_one(int position, int64 upstream_id, int64 registry_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("position %d for upstream %lld in registry %lld is below 1",
					position, (long long) upstream_id, (long long) registry_id),
			 errhint("Positions start at 1; a position beyond the last link moves it to the end.")));
}

/* The links of one registry, read with the latest snapshot. */
typedef struct LinkSet
{
	int			n;
	int			max;
	bool		taken[VREG_MAX_UPSTREAMS_PER_REGISTRY + 2];
	int			conflict_position;	/* position of a link with the same
									 * upstream or id, or 0 */
	bool		conflict;
} LinkSet;

static void
read_links(int64 group_id, int64 registry_id, int64 upstream_id,
		   bool id_isnull, int64 id, LinkSet *set)
{
	static VregPlan plan = {
		"SELECT id, upstream_id, position FROM " VREG_SCHEMA ".registry_upstreams"
		" WHERE group_id = $1 AND registry_id = $2",
		2, {INT8OID, INT8OID}
	};
	Datum		values[2];
	uint64		i;

	memset(set, 0, sizeof(*set));
	values[0] = Int64GetDatum(group_id);
	values[1] = Int64GetDatum(registry_id);
	vreg_spi_run(&plan, values, NULL, VREG_SPI_LATEST, 0);
	for (i = 0; i < SPI_processed; i++)
	{
		int64		link_id = vreg_spi_int64(i, 1);
		int64		link_upstream = vreg_spi_int64(i, 2);
		int			pos = vreg_spi_int16(i, 3);

		set->n++;
		if (pos > set->max)
			set->max = pos;
		if (pos >= 1 && pos <= VREG_MAX_UPSTREAMS_PER_REGISTRY)
			set->taken[pos] = true;
		if (link_upstream == upstream_id || (!id_isnull && link_id == id))
		{
			set->conflict = true;
			set->conflict_position = pos;
		}
	}
}

/* ------------------------------------------------------------------------
 * Triggers on registry_upstreams
 * ------------------------------------------------------------------------
 */

/* Make room at a taken position: the run of links at pos.. moves down one. */
static void
make_room(int64 group_id, int64 registry_id, int pos, const LinkSet *set)
{
	static VregPlan plan = {
		"UPDATE " VREG_SCHEMA ".registry_upstreams SET position = position + 1"
		" WHERE group_id = $1 AND registry_id = $2 AND position BETWEEN $3 AND $4",
		4, {INT8OID, INT8OID, INT2OID, INT2OID}
	};
	Datum		values[4];
	int			end = pos;

	while (end < VREG_MAX_UPSTREAMS_PER_REGISTRY && set->taken[end + 1])
		end++;
	values[0] = Int64GetDatum(group_id);
	values[1] = Int64GetDatum(registry_id);
	values[2] = Int16GetDatum((int16) pos);
	values[3] = Int16GetDatum((int16) end);
	run_internal_shift(&plan, values);
}

/*
 * The position a new link of the registry gets: pos as given (pos_null:
 * none), after the registry is locked and its links read. Refuses a 6th
 * link; leaves errors about the row itself (an unknown registry, a link that
 * exists, a position out of range) to the constraints that report them.
 */
static int
position_for_insert(Relation rel, int64 group_id, int64 registry_id, int64 upstream_id,
					bool id_null, int64 id, bool pos_null, int pos)
{
	LinkSet		set;

	if (!vreg_lock_registry(group_id, registry_id))
		return pos_null ? 1 : pos;	/* no such registry: the foreign key says so */
	read_links(group_id, registry_id, upstream_id, id_null, id, &set);
	if (set.conflict)
	{
		/* Already linked (or the id exists): the unique key reports it. */
		if (pos_null)
			pos = set.conflict_position >= 1 ? set.conflict_position : 1;
		return pos;
	}
	if (set.n >= VREG_MAX_UPSTREAMS_PER_REGISTRY)
		refuse_sixth(rel, registry_id);
	if (pos_null)
	{
		pos = set.max + 1;
		if (pos > VREG_MAX_UPSTREAMS_PER_REGISTRY)
		{
			/* only with a gap left by an unfinished reorder */
			for (pos = 1; set.taken[pos]; pos++)
				;
		}
	}
	else if (pos >= 1 && pos <= VREG_MAX_UPSTREAMS_PER_REGISTRY && set.taken[pos])
		make_room(group_id, registry_id, pos, &set);
	/* else: a free explicit position is kept; out of range -> CHECK */
	return pos;
}

PG_FUNCTION_INFO_V1(containers_vreg_positions_before_insert);

/*
 * BEFORE INSERT FOR EACH ROW: lock the registry, refuse a 6th link, fill a
 * missing position with max + 1, keep a free explicit one, make room for a
 * taken explicit one.
 */
Datum
containers_vreg_positions_before_insert(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = vreg_trigger_check(fcinfo, "positions_before_insert");
	Relation	rel = trigdata->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	HeapTuple	tuple = trigdata->tg_trigtuple;
	int			att_pos = vreg_attnum(rel, "position");
	bool		g_null,
				r_null,
				u_null,
				id_null,
				pos_null;
	int64		group_id,
				registry_id,
				upstream_id,
				id;
	int			stored,
				pos;
	VregOwnerSwitch sw;

	group_id = tuple_int64(rel, tuple, "group_id", &g_null);
	registry_id = tuple_int64(rel, tuple, "registry_id", &r_null);
	upstream_id = tuple_int64(rel, tuple, "upstream_id", &u_null);
	id = tuple_int64(rel, tuple, "id", &id_null);
	stored = DatumGetInt16(heap_getattr(tuple, att_pos, desc, &pos_null));
	if (g_null || r_null || u_null)
		return PointerGetDatum(tuple);	/* NOT NULL reports it */

	vreg_become_owner(rel, &sw);
	vreg_spi_connect();
	pos = position_for_insert(rel, group_id, registry_id, upstream_id, id_null, id,
							  pos_null, stored);
	SPI_finish();
	vreg_restore_user(&sw);

	if (pos_null || pos != stored)
	{
		Datum		value = Int16GetDatum((int16) pos);
		bool		null = false;

		tuple = heap_modify_tuple_by_cols(tuple, desc, 1, &att_pos, &value, &null);
	}
	return PointerGetDatum(tuple);
}

PG_FUNCTION_INFO_V1(containers_vreg_positions_before_update);

/*
 * BEFORE UPDATE FOR EACH ROW: a changed position locks the registry; below 1
 * is 22023 (as move_upstream), above n is capped at n.
 */
Datum
containers_vreg_positions_before_update(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = vreg_trigger_check(fcinfo, "positions_before_update");
	Relation	rel = trigdata->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	HeapTuple	oldtup = trigdata->tg_trigtuple;
	HeapTuple	newtup = trigdata->tg_newtuple;
	int			att_pos;
	bool		old_null,
				new_null,
				isnull;
	int			old_pos,
				new_pos;
	int64		group_id,
				registry_id,
				upstream_id;
	VregOwnerSwitch sw;
	LinkSet		set;

	if (fired_by_internal_shift())
		return PointerGetDatum(newtup);

	att_pos = vreg_attnum(rel, "position");
	old_pos = DatumGetInt16(heap_getattr(oldtup, att_pos, desc, &old_null));
	new_pos = DatumGetInt16(heap_getattr(newtup, att_pos, desc, &new_null));
	if (new_null || old_null || old_pos == new_pos)
		return PointerGetDatum(newtup);	/* NOT NULL reports a NULL */

	/* The link's keys never change (row_guard); use the stored ones. */
	group_id = tuple_int64(rel, oldtup, "group_id", &isnull);
	registry_id = tuple_int64(rel, oldtup, "registry_id", &isnull);
	upstream_id = tuple_int64(rel, oldtup, "upstream_id", &isnull);
	if (new_pos < 1)
		refuse_below_one(new_pos, upstream_id, registry_id);

	vreg_become_owner(rel, &sw);
	vreg_spi_connect();
	vreg_lock_registry(group_id, registry_id);
	read_links(group_id, registry_id, -1, true, 0, &set);
	SPI_finish();
	vreg_restore_user(&sw);

	if (set.n >= 1 && new_pos > set.n)
	{
		Datum		value = Int16GetDatum((int16) set.n);
		bool		null = false;

		newtup = heap_modify_tuple_by_cols(newtup, desc, 1, &att_pos, &value, &null);
	}
	return PointerGetDatum(newtup);
}

typedef struct ChangedLink
{
	int64		group_id;
	int64		registry_id;
	int64		id;
	int			old_pos;
	int			new_pos;
} ChangedLink;

/* One link of a registry moved from old_pos to new_pos: shift the ones between. */
static void
shift_for_move(const ChangedLink *l)
{
	/* moved down: the links in (old, new] move up one place */
	static VregPlan up = {
		"UPDATE " VREG_SCHEMA ".registry_upstreams SET position = position - 1"
		" WHERE group_id = $1 AND registry_id = $2 AND id <> $3"
		" AND position > $4 AND position <= $5",
		5, {INT8OID, INT8OID, INT8OID, INT2OID, INT2OID}
	};

	/* moved up: the links in [new, old) move down one place */
	static VregPlan down = {
		"UPDATE " VREG_SCHEMA ".registry_upstreams SET position = position + 1"
		" WHERE group_id = $1 AND registry_id = $2 AND id <> $3"
		" AND position >= $4 AND position < $5",
		5, {INT8OID, INT8OID, INT8OID, INT2OID, INT2OID}
	};
	bool		moved_down = l->old_pos < l->new_pos;
	Datum		values[5];

	vreg_lock_registry(l->group_id, l->registry_id);
	values[0] = Int64GetDatum(l->group_id);
	values[1] = Int64GetDatum(l->registry_id);
	values[2] = Int64GetDatum(l->id);
	values[3] = Int16GetDatum((int16) (moved_down ? l->old_pos : l->new_pos));
	values[4] = Int16GetDatum((int16) (moved_down ? l->new_pos : l->old_pos));
	run_internal_shift(moved_down ? &up : &down, values);
}

PG_FUNCTION_INFO_V1(containers_vreg_positions_after_update);

/*
 * AFTER UPDATE FOR EACH STATEMENT (transition tables vreg_old_links,
 * vreg_new_links): in each registry where the statement changed the position
 * of exactly one link, shift the links in between by one place (a move).
 * Registries with several changed links are taken as given.
 */
Datum
containers_vreg_positions_after_update(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = vreg_trigger_check(fcinfo, "positions_after_update");
	VregOwnerSwitch sw;
	ChangedLink *links;
	uint64		nlinks,
				i,
				j;
	int			ret;

	if (fired_by_internal_shift())
		return PointerGetDatum(NULL);

	vreg_become_owner(trigdata->tg_relation, &sw);
	vreg_spi_connect();
	if (SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
		elog(ERROR, "SPI_register_trigger_data failed");

	/* the transition tables exist only in this call: nothing to prepare */
	ret = SPI_execute("SELECT n.group_id, n.registry_id, n.id, o.position, n.position"
					  " FROM vreg_new_links n JOIN vreg_old_links o"
					  " ON o.group_id = n.group_id AND o.id = n.id"
					  " WHERE o.position <> n.position"
					  " ORDER BY 1, 2, 3", true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading the transition tables failed: %s", SPI_result_code_string(ret));
	nlinks = SPI_processed;
	links = palloc0(sizeof(ChangedLink) * (nlinks + 1));
	for (i = 0; i < nlinks; i++)
	{
		links[i].group_id = vreg_spi_int64(i, 1);
		links[i].registry_id = vreg_spi_int64(i, 2);
		links[i].id = vreg_spi_int64(i, 3);
		links[i].old_pos = vreg_spi_int16(i, 4);
		links[i].new_pos = vreg_spi_int16(i, 5);
	}

	for (i = 0; i < nlinks; i = j)
	{
		/* [i, j) are the changed links of one registry */
		for (j = i + 1; j < nlinks &&
			 links[j].group_id == links[i].group_id &&
			 links[j].registry_id == links[i].registry_id; j++)
			;
		if (j - i == 1)
			shift_for_move(&links[i]);
	}

	SPI_finish();
	vreg_restore_user(&sw);
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(containers_vreg_positions_after_delete);

/*
 * AFTER DELETE FOR EACH STATEMENT (transition table vreg_old_links): lock the
 * affected registries in id order, then every remaining link moves up by the
 * number of deleted links before it. Registries deleted themselves have no
 * links left and are skipped.
 */
Datum
containers_vreg_positions_after_delete(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = vreg_trigger_check(fcinfo, "positions_after_delete");
	static VregPlan compact = {
		"UPDATE " VREG_SCHEMA ".registry_upstreams t"
		" SET position = t.position - (SELECT pg_catalog.count(*)"
		"   FROM pg_catalog.unnest($3) d WHERE d < t.position)::smallint"
		" WHERE t.group_id = $1 AND t.registry_id = $2"
		"   AND t.position > (SELECT pg_catalog.min(d) FROM pg_catalog.unnest($3) d)",
		3, {INT8OID, INT8OID, INT2ARRAYOID}
	};
	VregOwnerSwitch sw;
	int			ret;
	uint64		n,
				i;
	int64	   *groups,
			   *registries;
	Datum	   *deleted;

	if (fired_by_internal_shift())
		return PointerGetDatum(NULL);

	vreg_become_owner(trigdata->tg_relation, &sw);
	vreg_spi_connect();
	if (SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
		elog(ERROR, "SPI_register_trigger_data failed");

	/* the transition table exists only in this call: nothing to prepare */
	ret = SPI_execute("SELECT group_id, registry_id,"
					  " pg_catalog.array_agg(DISTINCT position ORDER BY position)"
					  " FROM vreg_old_links GROUP BY 1, 2 ORDER BY 1, 2", true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading the transition table failed: %s", SPI_result_code_string(ret));
	n = SPI_processed;
	groups = palloc(sizeof(int64) * (n + 1));
	registries = palloc(sizeof(int64) * (n + 1));
	deleted = palloc(sizeof(Datum) * (n + 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		groups[i] = vreg_spi_int64(i, 1);
		registries[i] = vreg_spi_int64(i, 2);
		/* the int2[] of deleted positions, copied out of the SPI result */
		deleted[i] = datumCopy(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3,
											 &isnull), false, -1);
	}

	for (i = 0; i < n; i++)
	{
		Datum		values[3];

		if (!vreg_lock_registry(groups[i], registries[i]))
			continue;			/* the registry itself was deleted */
		values[0] = Int64GetDatum(groups[i]);
		values[1] = Int64GetDatum(registries[i]);
		values[2] = deleted[i];
		run_internal_shift(&compact, values);
	}

	SPI_finish();
	vreg_restore_user(&sw);
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(containers_vreg_positions_check);

/*
 * Deferred constraint trigger (AFTER INSERT OR DELETE OR UPDATE OF position,
 * FOR EACH ROW, INITIALLY DEFERRED): at commit the positions of the touched
 * registry are exactly 1..n, n <= 5.
 */
Datum
containers_vreg_positions_check(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = vreg_trigger_check(fcinfo, "positions_check");
	static VregPlan plan = {
		"SELECT pg_catalog.count(*),"
		" pg_catalog.count(*) = 0 OR (pg_catalog.min(position) = 1"
		"   AND pg_catalog.max(position) = pg_catalog.count(*)"
		"   AND pg_catalog.count(DISTINCT position) = pg_catalog.count(*)),"
		" pg_catalog.string_agg(position::text, ', ' ORDER BY position)"
		" FROM " VREG_SCHEMA ".registry_upstreams"
		" WHERE group_id = $1 AND registry_id = $2",
		2, {INT8OID, INT8OID}
	};
	Relation	rel = trigdata->tg_relation;
	HeapTuple	tuple;
	bool		isnull;
	int64		group_id,
				registry_id,
				n;
	bool		ok;
	char	   *list = NULL;
	VregOwnerSwitch sw;
	Datum		values[2];
	MemoryContext callercxt = CurrentMemoryContext;

	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple
		: trigdata->tg_trigtuple;
	group_id = tuple_int64(rel, tuple, "group_id", &isnull);
	registry_id = tuple_int64(rel, tuple, "registry_id", &isnull);

	vreg_become_owner(rel, &sw);
	vreg_spi_connect();
	vreg_lock_registry(group_id, registry_id);
	values[0] = Int64GetDatum(group_id);
	values[1] = Int64GetDatum(registry_id);
	vreg_spi_run(&plan, values, NULL, VREG_SPI_LATEST, 0);
	if (SPI_processed != 1)
		elog(ERROR, "checking the positions of registry %lld failed", (long long) registry_id);
	n = vreg_spi_int64(0, 1);
	ok = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (!ok)
	{
		/*
		 * SPI_getvalue allocates in the SPI procedure context, which
		 * SPI_finish frees: the error below is raised after it, so the text
		 * is copied into the caller's context first.
		 */
		char	   *spi_list = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);

		if (spi_list != NULL)
			list = MemoryContextStrdup(callercxt, spi_list);
	}
	SPI_finish();
	vreg_restore_user(&sw);

	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("positions of the upstreams of registry %lld are not 1..%d",
						(long long) registry_id, (int) n),
				 errdetail("At commit the positions are %s; they must be 1 to %d, each once.",
						   list ? list : "?", (int) n),
				 errhint("Change several positions in one UPDATE statement, or use containers_vreg.move_upstream()."),
				 errtable(rel)));
	if (n > VREG_MAX_UPSTREAMS_PER_REGISTRY)
		refuse_sixth(rel, registry_id);
	return PointerGetDatum(NULL);
}

/* ------------------------------------------------------------------------
 * Trigger on upstreams
 * ------------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(containers_vreg_upstreams_lock_registries);

/*
 * BEFORE DELETE FOR EACH ROW on upstreams: lock the registries the upstream
 * is linked to, in id order, before its links cascade (so two deletes, or a
 * delete and a move, wait for each other instead of deadlocking on links).
 */
Datum
containers_vreg_upstreams_lock_registries(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = vreg_trigger_check(fcinfo, "upstreams_lock_registries");
	static VregPlan plan = {
		"SELECT r.id FROM " VREG_SCHEMA ".registries r"
		" WHERE r.group_id = $1 AND r.id IN (SELECT l.registry_id FROM "
		VREG_SCHEMA ".registry_upstreams l WHERE l.group_id = $1 AND l.upstream_id = $2)"
		" ORDER BY r.id FOR NO KEY UPDATE OF r",
		2, {INT8OID, INT8OID}
	};
	Relation	rel = trigdata->tg_relation;
	HeapTuple	tuple = trigdata->tg_trigtuple;
	bool		isnull;
	Datum		values[2];
	VregOwnerSwitch sw;

	values[0] = heap_getattr(tuple, vreg_attnum(rel, "group_id"), RelationGetDescr(rel), &isnull);
	values[1] = heap_getattr(tuple, vreg_attnum(rel, "id"), RelationGetDescr(rel), &isnull);

	vreg_become_owner(rel, &sw);
	vreg_spi_connect();
	vreg_spi_run(&plan, values, NULL, VREG_SPI_LATEST, 0);
	SPI_finish();
	vreg_restore_user(&sw);
	return PointerGetDatum(tuple);
}

/* ------------------------------------------------------------------------
 * SQL-callable functions
 * ------------------------------------------------------------------------
 */

static void
lock_registry_or_error(int64 group_id, int64 registry_id)
{
	if (!vreg_lock_registry(group_id, registry_id))
		vreg_registry_not_found(group_id, registry_id);
}

PG_FUNCTION_INFO_V1(containers_vreg_attach_upstream);

/* attach_upstream(group_id, registry_id, upstream_id) -> smallint position */
Datum
containers_vreg_attach_upstream(PG_FUNCTION_ARGS)
{
	int64		group_id = vreg_arg_int64(fcinfo, 0, "group_id");
	int64		registry_id = vreg_arg_int64(fcinfo, 1, "registry_id");
	int64		upstream_id = vreg_arg_int64(fcinfo, 2, "upstream_id");
	static VregPlan lock_upstream = {
		"SELECT 1 FROM " VREG_SCHEMA ".upstreams WHERE group_id = $1 AND id = $2 FOR KEY SHARE",
		2, {INT8OID, INT8OID}
	};
	static VregPlan find = {
		"SELECT position FROM " VREG_SCHEMA ".registry_upstreams"
		" WHERE group_id = $1 AND registry_id = $2 AND upstream_id = $3",
		3, {INT8OID, INT8OID, INT8OID}
	};
	static VregPlan insert = {
		"INSERT INTO " VREG_SCHEMA ".registry_upstreams (group_id, registry_id, upstream_id)"
		" VALUES ($1, $2, $3) RETURNING position",
		3, {INT8OID, INT8OID, INT8OID}
	};
	Datum		values[3];
	int			pos;

	vreg_spi_connect();

	/*
	 * The upstream first (FOR KEY SHARE, as the foreign key check would): a
	 * concurrent delete of the upstream, which locks the upstream and then
	 * its registries, then waits here rather than deadlocking with us.
	 */
	values[0] = Int64GetDatum(group_id);
	values[1] = Int64GetDatum(upstream_id);
	vreg_spi_run(&lock_upstream, values, NULL, VREG_SPI_LATEST, 0);
	if (SPI_processed == 0)
		vreg_upstream_not_found(group_id, upstream_id);

	lock_registry_or_error(group_id, registry_id);

	values[1] = Int64GetDatum(registry_id);
	values[2] = Int64GetDatum(upstream_id);
	vreg_spi_run(&find, values, NULL, VREG_SPI_LATEST, 0);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("upstream %lld is already linked to registry %lld",
						(long long) upstream_id, (long long) registry_id),
				 errdetail("It is at position %d.", vreg_spi_int16(0, 1)),
				 errhint("Use containers_vreg.move_upstream() to change its position.")));

	vreg_spi_run(&insert, values, NULL, VREG_SPI_LATEST_WRITE, 0);
	if (SPI_processed != 1)
		elog(ERROR, "inserting the link of upstream %lld failed", (long long) upstream_id);
	pos = vreg_spi_int16(0, 1);
	SPI_finish();
	PG_RETURN_INT16((int16) pos);
}

PG_FUNCTION_INFO_V1(containers_vreg_move_upstream);

/* move_upstream(group_id, registry_id, upstream_id, position) -> smallint */
Datum
containers_vreg_move_upstream(PG_FUNCTION_ARGS)
{
	int64		group_id = vreg_arg_int64(fcinfo, 0, "group_id");
	int64		registry_id = vreg_arg_int64(fcinfo, 1, "registry_id");
	int64		upstream_id = vreg_arg_int64(fcinfo, 2, "upstream_id");
	int32		target;
	static VregPlan find = {
		"SELECT l.id, l.position, (SELECT pg_catalog.count(*) FROM "
		VREG_SCHEMA ".registry_upstreams c WHERE c.group_id = $1 AND c.registry_id = $2)"
		" FROM " VREG_SCHEMA ".registry_upstreams l"
		" WHERE l.group_id = $1 AND l.registry_id = $2 AND l.upstream_id = $3",
		3, {INT8OID, INT8OID, INT8OID}
	};
	static VregPlan update = {
		"UPDATE " VREG_SCHEMA ".registry_upstreams SET position = $3"
		" WHERE group_id = $1 AND id = $2 RETURNING position",
		3, {INT8OID, INT8OID, INT2OID}
	};
	Datum		values[3];
	int64		link_id,
				n;
	int			current;

	if (PG_ARGISNULL(3))
		vreg_refuse_null("position");
	target = PG_GETARG_INT32(3);
	if (target < 1)
		refuse_below_one(target, upstream_id, registry_id);

	vreg_spi_connect();
	lock_registry_or_error(group_id, registry_id);

	values[0] = Int64GetDatum(group_id);
	values[1] = Int64GetDatum(registry_id);
	values[2] = Int64GetDatum(upstream_id);
	vreg_spi_run(&find, values, NULL, VREG_SPI_LATEST, 0);
	if (SPI_processed == 0)
		vreg_link_not_found(group_id, registry_id, upstream_id);
	link_id = vreg_spi_int64(0, 1);
	current = vreg_spi_int16(0, 2);
	n = vreg_spi_int64(0, 3);
	if (target > n)
		target = (int32) n;

	if (target != current)
	{
		/* A plain one-row UPDATE: the triggers shift the links in between. */
		values[1] = Int64GetDatum(link_id);
		values[2] = Int16GetDatum((int16) target);
		vreg_spi_run(&update, values, NULL, VREG_SPI_LATEST_WRITE, 0);
		if (SPI_processed != 1)
			vreg_link_not_found(group_id, registry_id, upstream_id);
		current = vreg_spi_int16(0, 1);
	}
	SPI_finish();
	PG_RETURN_INT16((int16) current);
}

PG_FUNCTION_INFO_V1(containers_vreg_detach_upstream);

/* detach_upstream(group_id, registry_id, upstream_id) -> void */
Datum
containers_vreg_detach_upstream(PG_FUNCTION_ARGS)
{
	int64		group_id = vreg_arg_int64(fcinfo, 0, "group_id");
	int64		registry_id = vreg_arg_int64(fcinfo, 1, "registry_id");
	int64		upstream_id = vreg_arg_int64(fcinfo, 2, "upstream_id");
	static VregPlan del = {
		"DELETE FROM " VREG_SCHEMA ".registry_upstreams"
		" WHERE group_id = $1 AND registry_id = $2 AND upstream_id = $3",
		3, {INT8OID, INT8OID, INT8OID}
	};
	Datum		values[3];

	vreg_spi_connect();
	lock_registry_or_error(group_id, registry_id);
	values[0] = Int64GetDatum(group_id);
	values[1] = Int64GetDatum(registry_id);
	values[2] = Int64GetDatum(upstream_id);
	vreg_spi_run(&del, values, NULL, VREG_SPI_LATEST_WRITE, 0);
	if (SPI_processed == 0)
		vreg_link_not_found(group_id, registry_id, upstream_id);
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(containers_vreg_delete_registry);

/*
 * delete_registry(group_id, registry_id) -> integer: deletes the registry
 * (its links cascade) and the upstreams it was the only registry of.
 */
Datum
containers_vreg_delete_registry(PG_FUNCTION_ARGS)
{
	int64		group_id = vreg_arg_int64(fcinfo, 0, "group_id");
	int64		registry_id = vreg_arg_int64(fcinfo, 1, "registry_id");
	static VregPlan lock_upstreams = {
		"SELECT u.id FROM " VREG_SCHEMA ".upstreams u"
		" WHERE u.group_id = $1 AND u.id IN (SELECT l.upstream_id FROM "
		VREG_SCHEMA ".registry_upstreams l WHERE l.group_id = $1 AND l.registry_id = $2)"
		" ORDER BY u.id FOR UPDATE OF u",
		2, {INT8OID, INT8OID}
	};
	static VregPlan del_registry = {
		"DELETE FROM " VREG_SCHEMA ".registries WHERE group_id = $1 AND id = $2",
		2, {INT8OID, INT8OID}
	};
	static VregPlan del_upstreams = {
		"DELETE FROM " VREG_SCHEMA ".upstreams u"
		" WHERE u.group_id = $1 AND u.id = ANY ($2)"
		" AND NOT EXISTS (SELECT 1 FROM " VREG_SCHEMA ".registry_upstreams l"
		"   WHERE l.group_id = u.group_id AND l.upstream_id = u.id)",
		2, {INT8OID, INT8ARRAYOID}
	};
	Datum		values[2];
	Datum	   *ids;
	uint64		n,
				i;
	uint64		deleted;

	vreg_spi_connect();
	lock_registry_or_error(group_id, registry_id);

	/*
	 * Lock the registry's upstreams (id order) FOR UPDATE: no new link to
	 * them can be made (its foreign key check needs FOR KEY SHARE) until we
	 * are done, so "linked to no other registry" stays true.
	 */
	values[0] = Int64GetDatum(group_id);
	values[1] = Int64GetDatum(registry_id);
	vreg_spi_run(&lock_upstreams, values, NULL, VREG_SPI_LATEST, 0);
	n = SPI_processed;
	ids = palloc(sizeof(Datum) * (n + 1));
	for (i = 0; i < n; i++)
		ids[i] = Int64GetDatum(vreg_spi_int64(i, 1));

	vreg_spi_run(&del_registry, values, NULL, VREG_SPI_LATEST_WRITE, 0);
	if (SPI_processed != 1)
		vreg_registry_not_found(group_id, registry_id);

	values[1] = PointerGetDatum(construct_array(ids, (int) n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	vreg_spi_run(&del_upstreams, values, NULL, VREG_SPI_LATEST_WRITE, 0);
	deleted = SPI_processed;
	SPI_finish();
	PG_RETURN_INT32((int32) deleted);
}

PG_FUNCTION_INFO_V1(containers_vreg_registry_upstreams);

/*
 * registry_upstreams(group_id, registry_id) -> TABLE (position, upstream_id,
 * url, name, cache_validity_hours), in position order; never credentials.
 */
Datum
containers_vreg_registry_upstreams(PG_FUNCTION_ARGS)
{
	int64		group_id = vreg_arg_int64(fcinfo, 0, "group_id");
	int64		registry_id = vreg_arg_int64(fcinfo, 1, "registry_id");
	static VregPlan exists = {
		"SELECT 1 FROM " VREG_SCHEMA ".registries WHERE group_id = $1 AND id = $2",
		2, {INT8OID, INT8OID}
	};
	static VregPlan list = {
		"SELECT l.position, u.id, u.url, u.name, u.cache_validity_hours"
		" FROM " VREG_SCHEMA ".registry_upstreams l"
		" JOIN " VREG_SCHEMA ".upstreams u ON u.group_id = l.group_id AND u.id = l.upstream_id"
		" WHERE l.group_id = $1 AND l.registry_id = $2"
		" ORDER BY l.position, l.id",
		2, {INT8OID, INT8OID}
	};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[2];
	uint64		i;

	InitMaterializedSRF(fcinfo, 0);

	vreg_spi_connect();
	values[0] = Int64GetDatum(group_id);
	values[1] = Int64GetDatum(registry_id);
	if (vreg_spi_run(&exists, values, NULL, VREG_SPI_READ, 1) != SPI_OK_SELECT)
		elog(ERROR, "looking up registry %lld failed", (long long) registry_id);
	if (SPI_processed == 0)
		vreg_registry_not_found(group_id, registry_id);

	if (vreg_spi_run(&list, values, NULL, VREG_SPI_READ, 0) != SPI_OK_SELECT)
		elog(ERROR, "listing the upstreams of registry %lld failed", (long long) registry_id);
	for (i = 0; i < SPI_processed; i++)
	{
		Datum		out[5];
		bool		nulls[5];
		int			col;

		for (col = 0; col < 5; col++)
			out[col] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
									 col + 1, &nulls[col]);
		/* the tuplestore copies the values into its own (per-query) memory */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

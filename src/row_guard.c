/*
 * row_guard.c
 *		Generic row triggers: updated_at maintenance, immutable columns, and
 *		the per-group registry limit.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "containers_vreg.h"
#include "vreg_common.h"

/* Refuse a change of the named column between old and new tuple. */
static void
refuse_change(Relation rel, HeapTuple oldtup, HeapTuple newtup, const char *colname)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	AttrNumber	attnum = vreg_attnum(rel, colname);
	Form_pg_attribute att;
	Datum		oldval,
				newval;
	bool		oldnull,
				newnull;

	att = TupleDescAttr(tupdesc, attnum - 1);
	oldval = heap_getattr(oldtup, attnum, tupdesc, &oldnull);
	newval = heap_getattr(newtup, attnum, tupdesc, &newnull);
	if (oldnull != newnull ||
		(!oldnull && !datum_image_eq(oldval, newval, att->attbyval, att->attlen)))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("column \"%s\" of \"%s\" cannot be changed", colname,
						RelationGetRelationName(rel)),
				 errdetail("%s is set when the row is inserted and never changes.", colname),
				 errhint("Delete the row and insert a new one instead."),
				 errtablecol(rel, attnum)));
}

PG_FUNCTION_INFO_V1(containers_vreg_row_guard);

/*
 * BEFORE UPDATE FOR EACH ROW: group_id and the columns named in the trigger
 * arguments never change; updated_at (when the table has it) becomes now().
 */
Datum
containers_vreg_row_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = vreg_trigger_check(fcinfo, "row_guard");
	Relation	rel = trigdata->tg_relation;
	HeapTuple	oldtup,
				newtup;
	int			i;
	int			attnum;

	oldtup = trigdata->tg_trigtuple;
	newtup = trigdata->tg_newtuple;

	refuse_change(rel, oldtup, newtup, "group_id");
	for (i = 0; i < trigdata->tg_trigger->tgnargs; i++)
		refuse_change(rel, oldtup, newtup, trigdata->tg_trigger->tgargs[i]);

	attnum = SPI_fnumber(RelationGetDescr(rel), "updated_at");
	if (attnum > 0)
	{
		Datum		value = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		bool		isnull = false;

		newtup = heap_modify_tuple_by_cols(newtup, RelationGetDescr(rel),
										   1, &attnum, &value, &isnull);
	}
	return PointerGetDatum(newtup);
}

PG_FUNCTION_INFO_V1(containers_vreg_registries_limit);

/*
 * BEFORE INSERT FOR EACH ROW on registries: at most 5 per group.
 *
 * Inserts of one group are serialised by an advisory lock held to the end of
 * the transaction; the count then uses the latest snapshot (as the RI
 * triggers do), so a registry committed by a concurrent transaction is seen
 * under READ COMMITTED, REPEATABLE READ and SERIALIZABLE alike.
 *
 * The count runs as the table's owner, with row-level security not applied
 * (as the RI triggers and the positions triggers do): the inserting role
 * needs no SELECT on registries, and a policy that hides rows from it cannot
 * hide them from the count. The query names its table and functions with
 * their schema, and the function's search_path is pinned.
 */
Datum
containers_vreg_registries_limit(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = vreg_trigger_check(fcinfo, "registries_limit");
	static VregPlan count_plan = {
		"SELECT pg_catalog.count(*) FROM containers_vreg.registries"
		" WHERE group_id OPERATOR(pg_catalog.=) $1",
		1, {INT8OID}
	};
	Relation	rel = trigdata->tg_relation;
	HeapTuple	newtup = trigdata->tg_trigtuple;
	bool		isnull;
	Datum		group_id;
	int64		count;
	VregOwnerSwitch sw;

	group_id = heap_getattr(newtup, vreg_attnum(rel, "group_id"), RelationGetDescr(rel), &isnull);
	if (isnull)
		return PointerGetDatum(newtup);	/* NOT NULL constraint reports it */

	vreg_lock_group_key(DatumGetInt64(group_id), VREG_LOCKCLASS_REGISTRIES_OF_GROUP);

	vreg_become_owner(rel, &sw);
	vreg_spi_connect();
	if (vreg_spi_run(&count_plan, &group_id, NULL, VREG_SPI_LATEST, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "counting the registries of group %lld failed",
			 (long long) DatumGetInt64(group_id));
	count = vreg_spi_int64(0, 1);
	SPI_finish();
	vreg_restore_user(&sw);

	if (count >= VREG_MAX_REGISTRIES_PER_GROUP)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("group %lld already has %d registries, the limit",
						(long long) DatumGetInt64(group_id), VREG_MAX_REGISTRIES_PER_GROUP),
				 errdetail("A group may have at most %d registries.", VREG_MAX_REGISTRIES_PER_GROUP),
				 errhint("Delete a registry of the group before creating another."),
				 errtable(rel)));

	return PointerGetDatum(newtup);
}

PG_FUNCTION_INFO_V1(containers_vreg_cache_entries_status_guard);

/*
 * BEFORE UPDATE OF status FOR EACH ROW on cache_entries: an entry that left
 * the live state (1 processing, 2 pending destruction, 3 error) never
 * becomes live (0) again. Its object may already be deleted by a worker;
 * a new pull stores a new live entry with a new object_storage_key.
 */
Datum
containers_vreg_cache_entries_status_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = vreg_trigger_check(fcinfo, "cache_entries_status_guard");
	Relation	rel = trigdata->tg_relation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	AttrNumber	attnum = vreg_attnum(rel, "status");
	bool		oldnull,
				newnull;
	Datum		oldval,
				newval;

	oldval = heap_getattr(trigdata->tg_trigtuple, attnum, tupdesc, &oldnull);
	newval = heap_getattr(trigdata->tg_newtuple, attnum, tupdesc, &newnull);
	if (!oldnull && !newnull && DatumGetInt16(oldval) != VREG_STATUS_LIVE &&
		DatumGetInt16(newval) == VREG_STATUS_LIVE)
	{
		bool		isnull;
		int64		group_id = DatumGetInt64(heap_getattr(trigdata->tg_trigtuple,
														  vreg_attnum(rel, "group_id"),
														  tupdesc, &isnull));
		int64		entry_id = DatumGetInt64(heap_getattr(trigdata->tg_trigtuple,
														  vreg_attnum(rel, "id"),
														  tupdesc, &isnull));

		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("cache entry %lld of group %lld cannot become live again (status %d)",
						(long long) entry_id, (long long) group_id, (int) DatumGetInt16(oldval)),
				 errdetail("An entry that left the live state is being destroyed, and its object may already be deleted."),
				 errhint("Store the file again with upsert_cache_entry(): it creates a new live entry with a new object_storage_key."),
				 errtable(rel)));
	}
	return PointerGetDatum(trigdata->tg_newtuple);
}

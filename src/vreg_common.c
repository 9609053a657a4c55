/*
 * vreg_common.c
 *		One helper per job (see vreg_common.h): the trigger-context check, the
 *		argument and not-found errors, column lookup, SPI plans, running as
 *		the table's owner, and the cached OIDs of the extension's relations
 *		with the one relcache callback of the extension.
 *
 * The trigger-context check is what every trigger function of the extension
 * runs first, the C ones directly and the PL/pgSQL ones through
 * check_trigger_context().
 *
 * The table below is the one place that says, for each trigger function,
 * which of the extension's tables it is made for and when it fires. A
 * function fired anywhere else is refused with SQLSTATE 39P01
 * (trigger_protocol_violated): e.g. a trigger on a table of the caller's
 * own that uses the SECURITY DEFINER credentials trigger to compute
 * fingerprints or seal envelopes with the extension owner's rights.
 *
 * The extension's tables are looked up in the extension's (fixed) schema,
 * through the per-backend OID cache at the end of this file. Row triggers on
 * the partitioned
 * cache_entries are cloned onto its partitions, so a partition of a table
 * (at any depth) counts as that table; which relations are partitions of which
 * is cached per backend and forgotten at every relcache invalidation (ATTACH
 * and DETACH invalidate both tables).
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "containers_vreg.h"
#include "vreg_common.h"

#define EV_INSERT	TRIGGER_TYPE_INSERT
#define EV_UPDATE	TRIGGER_TYPE_UPDATE
#define EV_DELETE	TRIGGER_TYPE_DELETE
#define EV_TRUNCATE TRIGGER_TYPE_TRUNCATE
#define BEFORE_ROW	(TRIGGER_TYPE_BEFORE | TRIGGER_TYPE_ROW)
#define AFTER_ROW	TRIGGER_TYPE_ROW
#define AFTER_STATEMENT 0

/* What one trigger function is made for. */
typedef struct VregTriggerSpec
{
	const char *funcname;		/* SQL name in the extension's schema */
	const char *tables[5];		/* the tables it fires on, NULL-terminated */
	int16		when;			/* TRIGGER_TYPE_BEFORE/INSTEAD and ROW bits */
	int16		events;			/* TRIGGER_TYPE_INSERT/UPDATE/DELETE/TRUNCATE */
} VregTriggerSpec;

static const VregTriggerSpec trigger_specs[] = {
	{"row_guard", {"registries", "upstreams", "registry_upstreams", "cache_entries"},
	BEFORE_ROW, EV_UPDATE},
	{"registries_limit", {"registries"}, BEFORE_ROW, EV_INSERT},
	{"cache_entries_status_guard", {"cache_entries"}, BEFORE_ROW, EV_UPDATE},
	{"positions_before_insert", {"registry_upstreams"}, BEFORE_ROW, EV_INSERT},
	{"positions_before_update", {"registry_upstreams"}, BEFORE_ROW, EV_UPDATE},
	{"positions_after_update", {"registry_upstreams"}, AFTER_STATEMENT, EV_UPDATE},
	{"positions_after_delete", {"registry_upstreams"}, AFTER_STATEMENT, EV_DELETE},
	{"positions_check", {"registry_upstreams"}, AFTER_ROW, EV_INSERT | EV_UPDATE | EV_DELETE},
	{"upstreams_lock_registries", {"upstreams"}, BEFORE_ROW, EV_DELETE},
	{"upstreams_credentials", {"upstreams"}, BEFORE_ROW, EV_INSERT | EV_UPDATE},
	{"upstreams_url_network", {"upstreams"}, BEFORE_ROW, EV_INSERT | EV_UPDATE},
	{"upstreams_url_changed", {"upstreams"}, AFTER_ROW, EV_UPDATE},
	{"upstreams_mark_entries", {"upstreams"}, AFTER_ROW, EV_DELETE},
	{"cache_entries_release_fetch_lease", {"cache_entries"}, AFTER_ROW, EV_INSERT},
	{"cache_entries_track_usage", {"cache_entries"}, AFTER_ROW, EV_INSERT | EV_UPDATE | EV_DELETE},
	{"cache_entries_truncate_usage", {"cache_entries"}, AFTER_STATEMENT, EV_TRUNCATE},
};

#define WHEN_MASK (TRIGGER_TYPE_TIMING_MASK | TRIGGER_TYPE_LEVEL_MASK)

/* ---------------------------------------------------------------------
 * Errors (all 39P01; none returns)
 * --------------------------------------------------------------------- */

static pg_noreturn void refuse_no_spec(const char *funcname);
static pg_noreturn void refuse_not_trigger(const char *funcname);
static pg_noreturn void refuse_relation(const VregTriggerSpec *spec, Oid relid);
static pg_noreturn void refuse_when(const VregTriggerSpec *spec, Oid relid, int16 got);

/* "BEFORE INSERT OR UPDATE FOR EACH ROW" */
static void
describe_when(StringInfo buf, int16 type)
{
	static const struct
	{
		int16		bit;
		const char *name;
	}			events[] = {
		{EV_INSERT, "INSERT"}, {EV_UPDATE, "UPDATE"}, {EV_DELETE, "DELETE"}, {EV_TRUNCATE, "TRUNCATE"},
	};
	const char *sep = " ";
	int			i;

	appendStringInfoString(buf, (type & TRIGGER_TYPE_BEFORE) ? "BEFORE" :
						   (type & TRIGGER_TYPE_INSTEAD) ? "INSTEAD OF" : "AFTER");
	for (i = 0; i < (int) lengthof(events); i++)
		if (type & events[i].bit)
		{
			appendStringInfo(buf, "%s%s", sep, events[i].name);
			sep = " OR ";
		}
	appendStringInfoString(buf, (type & TRIGGER_TYPE_ROW) ? " FOR EACH ROW" : " FOR EACH STATEMENT");
}

/* "containers_vreg.upstreams" or "containers_vreg.registries, ..." */
static void
describe_tables(StringInfo buf, const VregTriggerSpec *spec)
{
	int			i;

	for (i = 0; spec->tables[i] != NULL; i++)
		appendStringInfo(buf, "%s%s", i ? ", " : "",
						 quote_qualified_identifier("containers_vreg", spec->tables[i]));
}

static char *
relation_label(Oid relid)
{
	char	   *name = get_rel_name(relid);

	if (name == NULL)
		return psprintf("with OID %u", relid);
	return psprintf("\"%s\"", quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													   name));
}

static void
refuse_no_spec(const char *funcname)
{
	/* no function name is longer than NAMEDATALEN - 1 bytes: show no more */
	int			len = pg_mbcliplen(funcname, strlen(funcname), NAMEDATALEN - 1);

	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("%.*s() is not a trigger function of containers_vreg", len, funcname)));
}

static void
refuse_not_trigger(const char *funcname)
{
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("%s() was not called by the trigger manager", funcname)));
}

static void
refuse_relation(const VregTriggerSpec *spec, Oid relid)
{
	StringInfoData tables,
				when;

	initStringInfo(&tables);
	initStringInfo(&when);
	describe_tables(&tables, spec);
	describe_when(&when, spec->when | spec->events);
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("trigger function %s() cannot fire on relation %s",
					spec->funcname, relation_label(relid)),
			 errdetail("It fires only %s on %s (or a partition of it).", when.data, tables.data),
			 errhint("The extension's trigger functions serve only the triggers that CREATE EXTENSION containers_vreg defines.")));
}

static void
refuse_when(const VregTriggerSpec *spec, Oid relid, int16 got)
{
	StringInfoData want,
				fired;

	initStringInfo(&want);
	initStringInfo(&fired);
	describe_when(&want, spec->when | spec->events);
	describe_when(&fired, got);
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("trigger function %s() must be fired %s", spec->funcname, want.data),
			 errdetail("It was fired %s on relation %s.", fired.data, relation_label(relid))));
}

/* ---------------------------------------------------------------------
 * Partitions of the extension's tables (cached per backend)
 * --------------------------------------------------------------------- */

#define PARTCACHE_SIZE 64

typedef struct PartitionOf
{
	Oid			relid;			/* a partition ... */
	Oid			ancestor;		/* ... of this table, at some depth */
} PartitionOf;

static PartitionOf partcache[PARTCACHE_SIZE];
static int	partcache_used = 0;
static int	partcache_next = 0;

static void
partcache_invalidate(Oid relid)
{
	partcache_used = 0;
	partcache_next = 0;
}

static bool
is_partition_of(Oid relid, Oid ancestor)
{
	HeapTuple	tp;
	bool		ispartition;
	List	   *ancestors;
	bool		found;
	int			i;

	for (i = 0; i < partcache_used; i++)
		if (partcache[i].relid == relid && partcache[i].ancestor == ancestor)
			return true;

	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tp))
		return false;
	ispartition = ((Form_pg_class) GETSTRUCT(tp))->relispartition;
	ReleaseSysCache(tp);
	if (!ispartition)
		return false;

	ancestors = get_partition_ancestors(relid);
	found = list_member_oid(ancestors, ancestor);
	list_free(ancestors);
	if (found)
	{
		vreg_on_relcache_invalidation(partcache_invalidate);
		partcache[partcache_next].relid = relid;
		partcache[partcache_next].ancestor = ancestor;
		partcache_next = (partcache_next + 1) % PARTCACHE_SIZE;
		if (partcache_used < PARTCACHE_SIZE)
			partcache_used++;
	}
	return found;
}

/* ---------------------------------------------------------------------
 * The check
 * --------------------------------------------------------------------- */

static const VregTriggerSpec *
find_spec(const char *funcname)
{
	int			i;

	for (i = 0; i < (int) lengthof(trigger_specs); i++)
		if (strcmp(trigger_specs[i].funcname, funcname) == 0)
			return &trigger_specs[i];
	refuse_no_spec(funcname);
}

/*
 * Refuse (39P01) unless relid is one of spec's tables of the extension, or a
 * partition of one, and got (TRIGGER_TYPE_* bits of this firing: timing,
 * level, one event) is what spec is made for.
 */
static void
check_context(const VregTriggerSpec *spec, Oid relid, int16 got)
{
	Oid			targets[lengthof(spec->tables)];
	int			ntargets = 0;
	bool		ok = false;
	int			i;

	for (i = 0; spec->tables[i] != NULL; i++)
	{
		Oid			target = vreg_relid(spec->tables[i], true);

		if (!OidIsValid(target))
			continue;
		if (target == relid)
		{
			ok = true;
			break;
		}
		targets[ntargets++] = target;
	}
	for (i = 0; !ok && i < ntargets; i++)
		ok = is_partition_of(relid, targets[i]);
	if (!ok)
		refuse_relation(spec, relid);

	if ((got & WHEN_MASK) != spec->when ||
		(got & TRIGGER_TYPE_EVENT_MASK) == 0 ||
		(got & TRIGGER_TYPE_EVENT_MASK & ~spec->events) != 0)
		refuse_when(spec, relid, got);
}

TriggerData *
vreg_trigger_check(FunctionCallInfo fcinfo, const char *funcname)
{
	const VregTriggerSpec *spec = find_spec(funcname);
	TriggerData *trigdata;
	TriggerEvent ev;
	int16		got = 0;

	if (!CALLED_AS_TRIGGER(fcinfo))
		refuse_not_trigger(funcname);
	trigdata = (TriggerData *) fcinfo->context;
	ev = trigdata->tg_event;
	if (TRIGGER_FIRED_FOR_ROW(ev))
		got |= TRIGGER_TYPE_ROW;
	if (TRIGGER_FIRED_BEFORE(ev))
		got |= TRIGGER_TYPE_BEFORE;
	else if (TRIGGER_FIRED_INSTEAD(ev))
		got |= TRIGGER_TYPE_INSTEAD;
	if (TRIGGER_FIRED_BY_INSERT(ev))
		got |= EV_INSERT;
	else if (TRIGGER_FIRED_BY_UPDATE(ev))
		got |= EV_UPDATE;
	else if (TRIGGER_FIRED_BY_DELETE(ev))
		got |= EV_DELETE;
	else if (TRIGGER_FIRED_BY_TRUNCATE(ev))
		got |= EV_TRUNCATE;
	check_context(spec, RelationGetRelid(trigdata->tg_relation), got);
	return trigdata;
}

/* TG_WHEN, TG_LEVEL or TG_OP of PL/pgSQL -> TRIGGER_TYPE_* bits (0: unknown) */
static int16
word_type(text *word, const char *const *names, const int16 *bits, int n)
{
	char	   *s = text_to_cstring(word);
	int			i;

	for (i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return bits[i];
	return -1;
}

PG_FUNCTION_INFO_V1(containers_vreg_check_trigger_context);

/*
 * check_trigger_context(trigger_function text, relid oid, tg_when text,
 * tg_level text, tg_op text) -> void: the same check for a PL/pgSQL trigger
 * function, which passes its own name, TG_RELID, TG_WHEN, TG_LEVEL and TG_OP.
 */
Datum
containers_vreg_check_trigger_context(PG_FUNCTION_ARGS)
{
	static const char *const whens[] = {"BEFORE", "AFTER", "INSTEAD OF"};
	static const int16 when_bits[] = {TRIGGER_TYPE_BEFORE, 0, TRIGGER_TYPE_INSTEAD};
	static const char *const levels[] = {"ROW", "STATEMENT"};
	static const int16 level_bits[] = {TRIGGER_TYPE_ROW, 0};
	static const char *const ops[] = {"INSERT", "UPDATE", "DELETE", "TRUNCATE"};
	static const int16 op_bits[] = {EV_INSERT, EV_UPDATE, EV_DELETE, EV_TRUNCATE};
	const VregTriggerSpec *spec;
	int16		when,
				level,
				op;
	int			i;

	for (i = 0; i < PG_NARGS(); i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("check_trigger_context() needs every argument"),
					 errhint("Call it from a trigger function as check_trigger_context('<function>', TG_RELID, TG_WHEN, TG_LEVEL, TG_OP).")));
	spec = find_spec(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	when = word_type(PG_GETARG_TEXT_PP(2), whens, when_bits, lengthof(whens));
	level = word_type(PG_GETARG_TEXT_PP(3), levels, level_bits, lengthof(levels));
	op = word_type(PG_GETARG_TEXT_PP(4), ops, op_bits, lengthof(ops));
	if (when < 0 || level < 0 || op < 0)
		refuse_not_trigger(spec->funcname);
	check_context(spec, PG_GETARG_OID(1), when | level | op);
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * Errors, one wording per condition
 * --------------------------------------------------------------------- */

void
vreg_refuse_null(const char *argname)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("%s must not be NULL", argname)));
	pg_unreachable();
}

int64
vreg_arg_int64(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		vreg_refuse_null(argname);
	return PG_GETARG_INT64(argno);
}

void
vreg_registry_not_found(int64 group_id, int64 registry_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("registry %lld of group %lld does not exist",
					(long long) registry_id, (long long) group_id)));
	pg_unreachable();
}

void
vreg_upstream_not_found(int64 group_id, int64 upstream_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("upstream %lld of group %lld does not exist",
					(long long) upstream_id, (long long) group_id)));
	pg_unreachable();
}

void
vreg_link_not_found(int64 group_id, int64 registry_id, int64 upstream_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("upstream %lld is not linked to registry %lld of group %lld",
					(long long) upstream_id, (long long) registry_id, (long long) group_id),
			 errhint("containers_vreg.registry_upstreams() lists the registry's upstreams.")));
	pg_unreachable();
}

/* ---------------------------------------------------------------------
 * Columns
 * --------------------------------------------------------------------- */

AttrNumber
vreg_attnum(Relation rel, const char *colname)
{
	int			attnum = SPI_fnumber(RelationGetDescr(rel), colname);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						colname, RelationGetRelationName(rel))));
	return (AttrNumber) attnum;
}

/* ---------------------------------------------------------------------
 * SPI
 * --------------------------------------------------------------------- */

void
vreg_spi_connect(void)
{
	int			rc = SPI_connect();

	if (rc != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
}

static SPIPlanPtr
plan_prepared(VregPlan *p)
{
	if (p->plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(p->sql, p->nargs, p->argtypes,
											  p->cursor_options);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", p->sql,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed for \"%s\"", p->sql);
		p->plan = plan;
	}
	return p->plan;
}

int
vreg_spi_run(VregPlan *p, Datum *values, const char *nulls, VregSnapshot snap,
			 long tcount)
{
	SPIPlanPtr	plan = plan_prepared(p);
	Snapshot	crosscheck = InvalidSnapshot;
	int			rc;

	switch (snap)
	{
		case VREG_SPI_READ:
		case VREG_SPI_WRITE:
			rc = SPI_execute_plan(plan, values, nulls, snap == VREG_SPI_READ, tcount);
			break;
		case VREG_SPI_LATEST_WRITE:
			if (IsolationUsesXactSnapshot())
			{
				CommandCounterIncrement();
				crosscheck = GetTransactionSnapshot();
			}
			/* FALLTHROUGH */
		default:
			rc = SPI_execute_snapshot(plan, values, nulls, GetLatestSnapshot(),
									  crosscheck, false, true, tcount);
			break;
	}
	if (rc < 0)
		elog(ERROR, "running \"%s\" failed: %s", p->sql, SPI_result_code_string(rc));
	return rc;
}

int64
vreg_spi_int64(uint64 row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

int16
vreg_spi_int16(uint64 row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt16(d);
}

/* ---------------------------------------------------------------------
 * Running as the table's owner
 * --------------------------------------------------------------------- */

void
vreg_become_owner(Relation rel, VregOwnerSwitch *sw)
{
	GetUserIdAndSecContext(&sw->save_userid, &sw->save_sec_context);
	SetUserIdAndSecContext(rel->rd_rel->relowner,
						   sw->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_NOFORCE_RLS);
}

void
vreg_restore_user(const VregOwnerSwitch *sw)
{
	SetUserIdAndSecContext(sw->save_userid, sw->save_sec_context);
}

/* ---------------------------------------------------------------------
 * The extension's relations by name, and the one relcache callback
 * --------------------------------------------------------------------- */

#define RELID_CACHE_SIZE 32
#define MAX_HOOKS 8

typedef struct NamedRelid
{
	NameData	name;
	Oid			relid;			/* InvalidOid: free slot */
} NamedRelid;

static NamedRelid relid_cache[RELID_CACHE_SIZE];
static VregRelcacheHook hooks[MAX_HOOKS];
static int	nhooks = 0;
static bool callbacks_registered = false;

static void
relcache_callback(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < RELID_CACHE_SIZE; i++)
		if (!OidIsValid(relid) || relid_cache[i].relid == relid)
			relid_cache[i].relid = InvalidOid;
	for (i = 0; i < nhooks; i++)
		hooks[i] (relid);
}

/* A schema renamed or dropped: every cached name may mean something else. */
static void
namespace_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	relcache_callback((Datum) 0, InvalidOid);
}

static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, namespace_callback, (Datum) 0);
	callbacks_registered = true;
}

void
vreg_on_relcache_invalidation(VregRelcacheHook hook)
{
	int			i;

	register_callbacks();
	for (i = 0; i < nhooks; i++)
		if (hooks[i] == hook)
			return;
	if (nhooks >= MAX_HOOKS)
		elog(ERROR, "too many relcache hooks");
	hooks[nhooks++] = hook;
}

Oid
vreg_relid(const char *relname, bool missing_ok)
{
	Oid			relid;
	int			i,
				free_slot = -1;

	register_callbacks();
	for (i = 0; i < RELID_CACHE_SIZE; i++)
	{
		if (!OidIsValid(relid_cache[i].relid))
		{
			if (free_slot < 0)
				free_slot = i;
		}
		else if (strcmp(NameStr(relid_cache[i].name), relname) == 0)
			return relid_cache[i].relid;
	}
	relid = get_relname_relid(relname, get_namespace_oid(VREG_SCHEMA, missing_ok));
	if (!OidIsValid(relid))
	{
		if (missing_ok)
			return InvalidOid;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s.%s\" does not exist", VREG_SCHEMA, relname)));
	}
	if (free_slot >= 0)
	{
		namestrcpy(&relid_cache[free_slot].name, relname);
		relid_cache[free_slot].relid = relid;
	}
	return relid;
}

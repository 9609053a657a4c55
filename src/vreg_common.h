/*
 * vreg_common.h
 *		One helper per job, shared by every SQL-callable and trigger function
 *		of the extension (as amcheck's verify_common.h):
 *
 *	* the trigger-context check every trigger function runs first;
 *	* the argument and not-found errors, one wording per condition;
 *	* the column lookup by name;
 *	* SPI: connecting, and running a plan prepared once per backend under
 *	  the statement's or the latest snapshot;
 *	* running a trigger's internal queries as the table's owner;
 *	* the OIDs of the extension's relations by name, cached per backend and
 *	  forgotten at relcache invalidation, and the one relcache callback that
 *	  other per-backend caches hook into.
 */
#ifndef VREG_COMMON_H
#define VREG_COMMON_H

#include "postgres.h"

#include "access/attnum.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/rel.h"

/* PostgreSQL 18 spells it as a prefix; GCC and MSVC take the old form there too. */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/* ---------------------------------------------------------------------
 * Trigger context
 * --------------------------------------------------------------------- */

/*
 * A trigger function runs with whatever rights its definition gives it (some
 * are SECURITY DEFINER), and PostgreSQL does not check EXECUTE when a trigger
 * fires, only when it is created. So each trigger function first checks that
 * it fires as the trigger the extension made for it: on the extension's own
 * table (or a partition of it, where row triggers are cloned), at the timing,
 * level and for the events it was written for. Anything else is refused with
 * SQLSTATE 39P01 (trigger_protocol_violated), before any row is read or
 * written.
 *
 * For a C trigger function: checks the call (SQL name funcname, which must be
 * listed in vreg_common.c) and returns its TriggerData.
 */
extern TriggerData *vreg_trigger_check(FunctionCallInfo fcinfo, const char *funcname);

/* ---------------------------------------------------------------------
 * Errors, one wording per condition
 * --------------------------------------------------------------------- */

/* "<argname> must not be NULL" (22004). */
extern pg_noreturn void vreg_refuse_null(const char *argname);

/* Argument argno as int64, or vreg_refuse_null(argname) when it is NULL. */
extern int64 vreg_arg_int64(FunctionCallInfo fcinfo, int argno, const char *argname);

/*
 * P0002, worded exactly as the PL/pgSQL functions raise them:
 * "registry %lld of group %lld does not exist", the same for upstream, and
 * "upstream %lld is not linked to registry %lld of group %lld".
 */
extern pg_noreturn void vreg_registry_not_found(int64 group_id, int64 registry_id);
extern pg_noreturn void vreg_upstream_not_found(int64 group_id, int64 upstream_id);
extern pg_noreturn void vreg_link_not_found(int64 group_id, int64 registry_id,
											int64 upstream_id);

/* ---------------------------------------------------------------------
 * Columns
 * --------------------------------------------------------------------- */

/* Attribute number of column colname of rel; 42703 when it has none. */
extern AttrNumber vreg_attnum(Relation rel, const char *colname);

/* ---------------------------------------------------------------------
 * SPI
 * --------------------------------------------------------------------- */

#define VREG_PLAN_MAX_ARGS 8

/*
 * A query prepared at its first run and kept for the life of the backend
 * (SPI_keepplan: the plan cache re-plans it when a table or index it uses
 * changes). Declare one per query as a static variable:
 *
 *	static VregPlan plan = {"SELECT ... $1", 1, {INT8OID}};
 *
 * Every name in the query is schema-qualified (operators too where the
 * caller's search_path is in force), so no caller can change its meaning.
 */
typedef struct VregPlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[VREG_PLAN_MAX_ARGS];
	int			cursor_options; /* 0, or CURSOR_OPT_GENERIC_PLAN */
	SPIPlanPtr	plan;			/* NULL until the first run */
} VregPlan;

/* Which snapshot a plan runs under. */
typedef enum VregSnapshot
{
	VREG_SPI_READ,				/* the statement's snapshot, read only */
	VREG_SPI_WRITE,				/* SPI's own, as for any volatile function */
	VREG_SPI_LATEST,			/* the latest snapshot, as the RI triggers read
								 * (and lock: FOR UPDATE sees committed rows) */
	VREG_SPI_LATEST_WRITE		/* the latest snapshot; under REPEATABLE READ
								 * and SERIALIZABLE a row changed after the
								 * transaction's snapshot raises 40001 */
} VregSnapshot;

/* SPI_connect(), or an internal error. */
extern void vreg_spi_connect(void);

/*
 * Run plan (prepared on first use) with values/nulls (nulls as SPI: ' ' or
 * 'n'; NULL for none) under snap, at most tcount rows (0: all). AFTER
 * triggers of the statement fire at its end. Returns the SPI result code;
 * a negative one is an internal error.
 */
extern int	vreg_spi_run(VregPlan *plan, Datum *values, const char *nulls,
						 VregSnapshot snap, long tcount);

/* Column col (1-based) of result row row as int64 / int16 (0 when NULL). */
extern int64 vreg_spi_int64(uint64 row, int col);
extern int16 vreg_spi_int16(uint64 row, int col);

/* ---------------------------------------------------------------------
 * Running as the table's owner
 * --------------------------------------------------------------------- */

/*
 * A trigger's internal queries run as the owner of the table it fires on,
 * without row-level security (as the RI triggers do): the acting role needs
 * no privilege on the rows the rule reads, and no policy can hide a row
 * from the rule. An error on the way restores the user at (sub)transaction
 * abort.
 */
typedef struct VregOwnerSwitch
{
	Oid			save_userid;
	int			save_sec_context;
} VregOwnerSwitch;

extern void vreg_become_owner(Relation rel, VregOwnerSwitch *sw);
extern void vreg_restore_user(const VregOwnerSwitch *sw);

/* ---------------------------------------------------------------------
 * The extension's relations, and relcache invalidation
 * --------------------------------------------------------------------- */

/*
 * OID of relation relname (a table or an index) in the extension's schema,
 * cached per backend until a relcache invalidation of that relation (DROP,
 * RENAME, any ALTER) or a change of a schema. InvalidOid when it does not
 * exist and missing_ok; otherwise 42P01.
 */
extern Oid	vreg_relid(const char *relname, bool missing_ok);

/*
 * Call hook at every relcache invalidation (relid InvalidOid: all of them),
 * after the relation OIDs above were forgotten. For per-backend caches of
 * the extension: one callback registered with PostgreSQL for all of them.
 * Registering the same hook again does nothing.
 */
typedef void (*VregRelcacheHook) (Oid relid);
extern void vreg_on_relcache_invalidation(VregRelcacheHook hook);

#endif							/* VREG_COMMON_H */

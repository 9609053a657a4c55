/*
 * usage_lock.c
 *		The per-group lock that serialises the usage counters' maintenance
 *		(compact_usage, rebuild_usage in sql/install/60_lifecycle.sql).
 *
 * SQL can only take advisory locks in the application's lock space
 * (pg_advisory_lock and friends), where any application's lock on the same
 * numbers would collide with ours. This function takes it in the extension's
 * private class instead, like every other lock of the extension
 * (vreg_lock_group_key).
 */
#include "postgres.h"

#include "fmgr.h"

#include "containers_vreg.h"
#include "vreg_common.h"

PG_FUNCTION_INFO_V1(containers_vreg_lock_group_usage);

/*
 * lock_group_usage(group_id bigint) -> void: transaction-level exclusive
 * lock on the group's usage counters. Not STRICT: a NULL is an error, not a
 * silently skipped lock.
 */
Datum
containers_vreg_lock_group_usage(PG_FUNCTION_ARGS)
{
	vreg_lock_group_key(vreg_arg_int64(fcinfo, 0, "group_id"), VREG_LOCKCLASS_USAGE_OF_GROUP);
	PG_RETURN_VOID();
}

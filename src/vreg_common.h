/*
 * vreg_common.h
 *		Checks shared by every trigger function of the extension.
 *
 * A trigger function runs with whatever rights its definition gives it (some
 * are SECURITY DEFINER), and PostgreSQL does not check EXECUTE when a trigger
 * fires, only when it is created. So each trigger function first checks that
 * it fires as the trigger the extension made for it: on the extension's own
 * table (or a partition of it, where row triggers are cloned), at the timing,
 * level and for the events it was written for. Anything else is refused with
 * SQLSTATE 39P01 (trigger_protocol_violated), before any row is read or
 * written.
 */
#ifndef VREG_COMMON_H
#define VREG_COMMON_H

#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"

/*
 * For a C trigger function: checks the call (SQL name funcname, which must be
 * listed in vreg_common.c) and returns its TriggerData. Errors (39P01): not
 * called by the trigger manager, fired on another relation, or at another
 * timing, level or event.
 */
extern TriggerData *vreg_trigger_check(FunctionCallInfo fcinfo, const char *funcname);

#endif							/* VREG_COMMON_H */

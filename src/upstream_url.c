/*
 * upstream_url.c
 *		SQL wrappers around the pure URL rules of url_check.c: the check
 *		function and the trigger that applies containers_vreg.allow_local_upstreams.
 *
 * Two layers, so that the table's CHECK constraint stays a property of the
 * row alone (immutable) while the local-network rule follows a setting:
 *
 *	 - CHECK (check_upstream_url(url, true)): what no upstream url may ever be
 *	   (syntax, scheme, userinfo, port, link-local, unspecified, multicast,
 *	   reserved). It never depends on a setting, so re-validating or restoring
 *	   a table can never fail on rows that were accepted once.
 *	 - BEFORE INSERT OR UPDATE OF url trigger upstreams_url_network: refuses
 *	   localhost, loopback, private and shared hosts unless
 *	   containers_vreg.allow_local_upstreams is on. It checks a url when it is
 *	   written or changed, not an unchanged url of an updated row.
 *
 * Restore: a dump made while the setting was on holds local upstreams. pg_dump
 * and pg_restore run with check_function_bodies = off, PostgreSQL's own
 * "this is a restore, do not re-validate definitions" switch; for a superuser
 * (who may turn the setting on anyway) the trigger then lets such rows in, so
 * a restore onto a server with the setting off does not fail half-way. A
 * non-superuser gets no such exemption.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/rel.h"

#include "containers_vreg.h"
#include "url_check.h"
#include "vreg_common.h"


static void
report_url_problem(const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("invalid upstream URL: %s", problem),
			 vreg_url_problem_is_local(problem) ?
			 errhint("An upstream URL is http:// or https:// followed by a public host name or address, an optional port and path, and no user name or password. A superuser can accept hosts on this machine or a private network with containers_vreg.allow_local_upstreams = on.") :
			 errhint("An upstream URL is http:// or https:// followed by a public host name or address, an optional port and path, and no user name or password.")));
}

PG_FUNCTION_INFO_V1(containers_vreg_check_upstream_url);

/*
 * check_upstream_url(url text [, allow_local boolean]) -> true, or 23514.
 * Immutable: the answer depends on its arguments only, never on a setting.
 */
Datum
containers_vreg_check_upstream_url(PG_FUNCTION_ARGS)
{
	text	   *url = PG_GETARG_TEXT_PP(0);
	bool		allow_local = PG_NARGS() > 1 ? PG_GETARG_BOOL(1) : false;
	const char *problem = vreg_url_problem_opts(VARDATA_ANY(url), VARSIZE_ANY_EXHDR(url),
												allow_local);

	if (problem != NULL)
		report_url_problem(problem);
	PG_RETURN_BOOL(true);
}

PG_FUNCTION_INFO_V1(containers_vreg_upstreams_url_network);

/*
 * BEFORE INSERT OR UPDATE OF url ON upstreams, FOR EACH ROW: the local-network
 * rule (see the file header). Any other problem of the url is left to the
 * CHECK constraints, which report it with the same message.
 */
Datum
containers_vreg_upstreams_url_network(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = vreg_trigger_check(fcinfo, "upstreams_url_network");
	TupleDesc	tupdesc;
	HeapTuple	newtup;
	int			attnum;
	Datum		value;
	bool		isnull;
	text	   *url;
	const char *problem;


	newtup = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	if (vreg_allow_local_upstreams)
		return PointerGetDatum(newtup);
	/* a restore by a superuser (pg_dump's scripts turn check_function_bodies off) */
	if (!check_function_bodies && superuser())
		return PointerGetDatum(newtup);

	tupdesc = RelationGetDescr(trigdata->tg_relation);
	attnum = vreg_attnum(trigdata->tg_relation, "url");
	value = heap_getattr(newtup, attnum, tupdesc, &isnull);
	if (isnull)
		return PointerGetDatum(newtup);	/* NOT NULL reports it */

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		bool		oldnull;
		Datum		oldvalue = heap_getattr(trigdata->tg_trigtuple, attnum, tupdesc, &oldnull);

		/* an unchanged url was accepted when it was written */
		if (!oldnull && datum_image_eq(oldvalue, value, false, -1))
			return PointerGetDatum(newtup);
	}

	url = DatumGetTextPP(value);
	/* too long: the length CHECK reports it first, as without this trigger */
	if (pg_mbstrlen_with_len(VARDATA_ANY(url), VARSIZE_ANY_EXHDR(url)) > VREG_MAX_URL_CHARS)
		return PointerGetDatum(newtup);
	problem = vreg_url_problem(VARDATA_ANY(url), VARSIZE_ANY_EXHDR(url));
	if (vreg_url_problem_is_local(problem))
		report_url_problem(problem);
	return PointerGetDatum(newtup);
}

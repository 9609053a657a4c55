/*
 * upstream_url.c
 *		SQL wrapper around the pure URL rules of url_check.c.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "url_check.h"

PG_FUNCTION_INFO_V1(containers_vreg_check_upstream_url);

Datum
containers_vreg_check_upstream_url(PG_FUNCTION_ARGS)
{
	text	   *url = PG_GETARG_TEXT_PP(0);
	const char *problem = vreg_url_problem(VARDATA_ANY(url), VARSIZE_ANY_EXHDR(url));

	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("invalid upstream URL: %s", problem),
				 errhint("An upstream URL is http:// or https:// followed by a public host name or address, an optional port and path, and no user name or password.")));
	PG_RETURN_BOOL(true);
}

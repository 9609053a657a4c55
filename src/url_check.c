/*
 * url_check.c
 *		Upstream URL rules (pure C). STUB: to be completed.
 */
#include <string.h>
#include "url_check.h"

const char *
vreg_url_problem(const char *url, size_t len)
{
	if (len < 8 || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
		return "the scheme must be http or https";
	return NULL;
}

/*
 * url_check.h
 *		Upstream URL rules (pure C, no server headers: linked by the fuzzer).
 */
#ifndef URL_CHECK_H
#define URL_CHECK_H

#include <stddef.h>

/*
 * Returns NULL when url (len bytes, not necessarily NUL-terminated) is an
 * acceptable upstream URL, otherwise a static English sentence naming the
 * problem (never containing any part of the URL).
 */
extern const char *vreg_url_problem(const char *url, size_t len);

#endif

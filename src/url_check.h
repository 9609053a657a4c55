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

/*
 * The same, but with allow_local non-zero a host of this machine or of a
 * private network (localhost, loopback, private, unique-local, shared) is
 * accepted; link-local, unspecified, multicast and reserved stay refused.
 */
extern const char *vreg_url_problem_opts(const char *url, size_t len, int allow_local);

/* Is problem (a result of vreg_url_problem) one that allow_local lets in? */
extern int	vreg_url_problem_is_local(const char *problem);

#endif

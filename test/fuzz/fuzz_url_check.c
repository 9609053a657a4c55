/*
 * fuzz_url_check.c
 *		libFuzzer target for src/url_check.c (upstream URL rules).
 *
 * Properties asserted on every input:
 *	 - no echo: a problem is never a pointer into the input and is, byte for
 *	   byte, one of the module's static sentences (extracted from the source
 *	   at build time), so it cannot carry any part of the URL (stronger than
 *	   "no run of more than 3 input bytes": a fixed sentence contains input
 *	   bytes only when the input spelled that sentence);
 *	 - the verdict depends on the bytes only (a second call agrees);
 *	 - allow_local accepts exactly what the strict rule accepts plus the
 *	   local classes (localhost, loopback, private, shared), nothing else;
 *	 - an accepted URL stays accepted with a path appended after its
 *	   authority, and with its scheme upper-cased;
 *	 - an accepted URL has no '%', '\\', control or non-ASCII byte, and no
 *	   '@' in its authority; its scheme is http or https.
 */
#include "url_check_messages.h"
#define FUZZ_KNOWN_MESSAGES
#include "fuzz_common.h"

#include "url_check.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *) data;
	const char *problem = vreg_url_problem(in, size);
	size_t		i;

	CHECK(problem == vreg_url_problem(in, size));
	{
		const char *local = vreg_url_problem_opts(in, size, 1);

		if (problem == NULL || vreg_url_problem_is_local(problem))
			CHECK(local == NULL);
		else
			CHECK(local == problem);
	}
	if (problem != NULL)
	{
		CHECK(!fuzz_points_into(problem, in, size));
		if (!fuzz_known_message(problem))
			fprintf(stderr, "unknown message: %s\n", problem);
		CHECK(fuzz_known_message(problem));
		return 0;
	}

	/* accepted: no byte that some parser reads differently */
	CHECK(size > 0);
	for (i = 0; i < size; i++)
	{
		unsigned char c = data[i];

		CHECK(c > 0x20 && c < 0x7f);
		CHECK(c != '%' && c != '\\');
	}

	{
		static const char tail[] = "/v2/library/alpine/manifests/latest";
		char	   *longer = malloc(size + sizeof(tail));
		const char *colon = memchr(in, ':', size);
		size_t		scheme_end,
					auth_end;

		if (longer == NULL)
			abort();
		CHECK(colon != NULL);
		scheme_end = (size_t) (colon - in);
		CHECK(scheme_end == 4 || scheme_end == 5);
		CHECK(size >= scheme_end + 3 && memcmp(in + scheme_end, "://", 3) == 0);
		for (auth_end = scheme_end + 3; auth_end < size; auth_end++)
			if (in[auth_end] == '/' || in[auth_end] == '?' || in[auth_end] == '#')
				break;
		CHECK(auth_end > scheme_end + 3);
		CHECK(memchr(in + scheme_end + 3, '@', auth_end - scheme_end - 3) == NULL);

		/* a path inserted after the authority keeps it acceptable */
		memcpy(longer, in, auth_end);
		memcpy(longer + auth_end, tail, sizeof(tail) - 1);
		memcpy(longer + auth_end + sizeof(tail) - 1, in + auth_end, size - auth_end);
		CHECK(vreg_url_problem(longer, size + sizeof(tail) - 1) == NULL);

		/* ... and so does a trailing path at the very end */
		memcpy(longer, in, size);
		memcpy(longer + size, tail, sizeof(tail) - 1);
		CHECK(vreg_url_problem(longer, size + sizeof(tail) - 1) == NULL);

		/* the scheme is case-insensitive */
		memcpy(longer, in, size);
		for (i = 0; i < scheme_end; i++)
			if (longer[i] >= 'a' && longer[i] <= 'z')
				longer[i] = (char) (longer[i] - 'a' + 'A');
		CHECK(vreg_url_problem(longer, size) == NULL);
		free(longer);
	}
	return 0;
}

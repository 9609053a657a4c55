/*
 * fuzz_common.h
 *		Helpers shared by the libFuzzer targets of test/fuzz/.
 *
 * A property violation calls CHECK_FAILED, which prints the property and
 * traps, so libFuzzer stops and writes the input as a crash artifact.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "property violated: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
			__builtin_trap(); \
		} \
	} while (0)

/* A heap copy of exactly len bytes, so ASan sees any read past the end. */
static inline char *
fuzz_dup(const void *p, size_t len)
{
	char	   *d = malloc(len ? len : 1);

	if (d == NULL)
		abort();
	if (len)
		memcpy(d, p, len);
	return d;
}

/* True when msg lies inside [buf, buf + len): a message built from the input. */
static inline int
fuzz_points_into(const char *msg, const void *buf, size_t len)
{
	uintptr_t	m = (uintptr_t) msg;
	uintptr_t	b = (uintptr_t) buf;

	return m >= b && m < b + len;
}

#ifdef FUZZ_KNOWN_MESSAGES
/* True when msg is one of the module's static sentences (byte for byte). */
static inline int
fuzz_known_message(const char *msg)
{
	int			i;

	for (i = 0; known_messages[i] != NULL; i++)
		if (strcmp(known_messages[i], msg) == 0)
			return 1;
	return 0;
}
#endif

#endif							/* FUZZ_COMMON_H */

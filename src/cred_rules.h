/*
 * cred_rules.h
 *		Table-driven rules for the plaintext credentials an application writes
 *		(docs/design.md, "Credentials"), and their canonical byte form.
 *
 * Pure C (no postgres.h): a fuzzer or a standalone test links cred_rules.c
 * alone. JSON parsing is not done here: the caller walks a jsonb value and
 * hands over one VregCredItem per top-level key.
 */
#ifndef VREG_CRED_RULES_H
#define VREG_CRED_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "vreg_limits.h"

/* GitLab's limit on username and password (characters). */
#define VREG_CRED_MAX_CHARS VREG_MAX_CREDENTIAL_CHARS
/* Room for the key table; raise it when a later auth kind needs more keys. */
#define VREG_CRED_MAX_KEYS 8
/* Upper bound of the canonical form (and so of the sealed plaintext). */
#define VREG_CRED_CANON_MAX 8192
#define VREG_CRED_CANON_VERSION 1

/* One accepted key: its name and its limit in characters. */
typedef struct VregCredKeySpec
{
	const char *name;
	unsigned	max_chars;
} VregCredKeySpec;

/* One auth kind: the set of keys (bits of vreg_cred_keys) it needs, all of them. */
typedef struct VregCredKind
{
	const char *name;
	uint32_t	key_mask;
} VregCredKind;

extern const VregCredKeySpec vreg_cred_keys[];
extern const int vreg_cred_nkeys;
extern const VregCredKind vreg_cred_kinds[];
extern const int vreg_cred_nkinds;

/* One top-level key of the submitted object, as the caller found it. */
typedef struct VregCredItem
{
	const char *key;
	size_t		keylen;
	int			is_string;		/* value is a JSON string */
	const char *val;			/* string bytes (when is_string) */
	size_t		vallen;			/* bytes */
	size_t		nchars;			/* characters (caller counts in its encoding) */
} VregCredItem;

/* The validated credentials: values indexed like vreg_cred_keys. */
typedef struct VregCredSet
{
	uint32_t	present;		/* bit i set: key i present and non-empty */
	const char *val[VREG_CRED_MAX_KEYS];
	size_t		len[VREG_CRED_MAX_KEYS];
} VregCredSet;

typedef enum VregCredStatus
{
	VREG_CRED_OK = 0,			/* a complete set of one auth kind */
	VREG_CRED_NONE,				/* {} or only empty strings: no credentials */
	VREG_CRED_UNKNOWN_KEY,
	VREG_CRED_NOT_STRING,
	VREG_CRED_TOO_LONG,
	VREG_CRED_DUPLICATE_KEY,
	VREG_CRED_INCOMPLETE,		/* some keys of a kind without the others */
	VREG_CRED_MIXED_KINDS		/* keys of more than one auth kind */
} VregCredStatus;

/*
 * Validate the items; on VREG_CRED_OK fill *out (pointers into the items).
 * *key_index is set to the vreg_cred_keys index the problem is about (or -1).
 * Never looks at a value's bytes beyond its length.
 */
extern VregCredStatus vreg_cred_validate(const VregCredItem *items, size_t nitems,
										 VregCredSet *out, int *key_index);

/*
 * Write a one-line description of a problem into buf (never a submitted
 * value or key: only names from the key table). Returns buf.
 */
extern const char *vreg_cred_problem(VregCredStatus status, int key_index,
									 uint32_t present, char *buf, size_t buflen);

/* "username, password": the accepted keys, for messages. Returns buf. */
extern const char *vreg_cred_accepted_keys(char *buf, size_t buflen);

/*
 * Canonical form of a validated set: version byte, then for every present key
 * in table order: 1-byte name length, name, 2-byte big-endian value length,
 * value. Equal credentials give equal bytes (the fingerprint input and the
 * sealed plaintext). Returns the length, or 0 when out is too small.
 */
extern size_t vreg_cred_canonical(const VregCredSet *set, uint8_t *out, size_t cap);

/*
 * Parse a canonical form back (into pointers into buf). Returns NULL or a
 * problem description; the result is also checked against the key table.
 */
extern const char *vreg_cred_parse_canonical(const uint8_t *buf, size_t len,
											 VregCredSet *out);

#endif							/* VREG_CRED_RULES_H */

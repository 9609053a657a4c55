/*
 * cred_rules.c
 *		Table-driven validation and canonical form of plaintext credentials.
 *
 * Pure C: no PostgreSQL headers, so that a fuzzer links this file alone.
 * A later auth kind (short-lived tokens, cloud IAM) adds rows to
 * vreg_cred_keys and vreg_cred_kinds, not code.
 */
#include <stdio.h>
#include <string.h>

#include "cred_rules.h"

const VregCredKeySpec vreg_cred_keys[] = {
	{"username", VREG_CRED_MAX_CHARS},
	{"password", VREG_CRED_MAX_CHARS},
};
const int	vreg_cred_nkeys = (int) (sizeof(vreg_cred_keys) / sizeof(vreg_cred_keys[0]));

const VregCredKind vreg_cred_kinds[] = {
	{"basic", (1u << 0) | (1u << 1)},
};
const int	vreg_cred_nkinds = (int) (sizeof(vreg_cred_kinds) / sizeof(vreg_cred_kinds[0]));

static int
find_key(const char *key, size_t keylen)
{
	int			i;

	for (i = 0; i < vreg_cred_nkeys; i++)
		if (strlen(vreg_cred_keys[i].name) == keylen &&
			memcmp(vreg_cred_keys[i].name, key, keylen) == 0)
			return i;
	return -1;
}

VregCredStatus
vreg_cred_validate(const VregCredItem *items, size_t nitems,
				   VregCredSet *out, int *key_index)
{
	uint32_t	seen = 0;
	size_t		n;
	int			k;

	memset(out, 0, sizeof(*out));
	*key_index = -1;

	for (n = 0; n < nitems; n++)
	{
		const VregCredItem *it = &items[n];
		int			i = find_key(it->key, it->keylen);

		if (i < 0)
			return VREG_CRED_UNKNOWN_KEY;
		*key_index = i;
		if (seen & (1u << i))
			return VREG_CRED_DUPLICATE_KEY;
		seen |= 1u << i;
		if (!it->is_string)
			return VREG_CRED_NOT_STRING;
		if (it->nchars > vreg_cred_keys[i].max_chars)
			return VREG_CRED_TOO_LONG;
		if (it->vallen > 0)
		{
			out->present |= 1u << i;
			out->val[i] = it->val;
			out->len[i] = it->vallen;
		}
	}
	*key_index = -1;

	if (out->present == 0)
		return VREG_CRED_NONE;
	for (k = 0; k < vreg_cred_nkinds; k++)
		if (out->present == vreg_cred_kinds[k].key_mask)
			return VREG_CRED_OK;
	for (k = 0; k < vreg_cred_nkinds; k++)
		if ((out->present & ~vreg_cred_kinds[k].key_mask) == 0)
		{
			/* name the first missing key of this kind */
			for (n = 0; n < (size_t) vreg_cred_nkeys; n++)
				if ((vreg_cred_kinds[k].key_mask & (1u << n)) &&
					!(out->present & (1u << n)))
				{
					*key_index = (int) n;
					break;
				}
			return VREG_CRED_INCOMPLETE;
		}
	return VREG_CRED_MIXED_KINDS;
}

/* Comma-separated names of the keys in mask. */
static void
key_list_q(uint32_t mask, char *buf, size_t buflen, int quoted)
{
	size_t		used = 0;
	int			i;

	buf[0] = '\0';
	for (i = 0; i < vreg_cred_nkeys && used < buflen; i++)
		if (mask & (1u << i))
			used += (size_t) snprintf(buf + used, buflen - used,
									  quoted ? "%s\"%s\"" : "%s%s",
									  used ? (quoted ? " and " : ", ") : "",
									  vreg_cred_keys[i].name);
}

#define key_list(mask, buf, buflen) key_list_q(mask, buf, buflen, 0)

const char *
vreg_cred_accepted_keys(char *buf, size_t buflen)
{
	key_list((1u << vreg_cred_nkeys) - 1, buf, buflen);
	return buf;
}

const char *
vreg_cred_problem(VregCredStatus status, int key_index, uint32_t present,
				  char *buf, size_t buflen)
{
	const char *key = (key_index >= 0 && key_index < vreg_cred_nkeys)
		? vreg_cred_keys[key_index].name : "?";
	char		given[128];

	switch (status)
	{
		case VREG_CRED_OK:
		case VREG_CRED_NONE:
			snprintf(buf, buflen, "valid");
			break;
		case VREG_CRED_UNKNOWN_KEY:
			snprintf(buf, buflen, "unknown key");
			break;
		case VREG_CRED_DUPLICATE_KEY:
			snprintf(buf, buflen, "key \"%s\" appears twice", key);
			break;
		case VREG_CRED_NOT_STRING:
			snprintf(buf, buflen, "\"%s\" must be a string", key);
			break;
		case VREG_CRED_TOO_LONG:
			snprintf(buf, buflen, "\"%s\" is longer than %u characters",
					 key, key_index >= 0 ? vreg_cred_keys[key_index].max_chars : 0);
			break;
		case VREG_CRED_INCOMPLETE:
			key_list_q(present, given, sizeof(given), 1);
			snprintf(buf, buflen, "%s without \"%s\"", given, key);
			break;
		case VREG_CRED_MIXED_KINDS:
			key_list_q(present, given, sizeof(given), 1);
			snprintf(buf, buflen, "keys of different kinds (%s)", given);
			break;
	}
	return buf;
}

size_t
vreg_cred_canonical(const VregCredSet *set, uint8_t *out, size_t cap)
{
	size_t		pos = 0;
	int			i;

	if (cap < 1)
		return 0;
	out[pos++] = VREG_CRED_CANON_VERSION;
	for (i = 0; i < vreg_cred_nkeys; i++)
	{
		size_t		nlen;

		if (!(set->present & (1u << i)))
			continue;
		nlen = strlen(vreg_cred_keys[i].name);
		if (set->len[i] > 0xFFFF || pos + 1 + nlen + 2 + set->len[i] > cap)
			return 0;
		out[pos++] = (uint8_t) nlen;
		memcpy(out + pos, vreg_cred_keys[i].name, nlen);
		pos += nlen;
		out[pos++] = (uint8_t) (set->len[i] >> 8);
		out[pos++] = (uint8_t) (set->len[i] & 0xFF);
		memcpy(out + pos, set->val[i], set->len[i]);
		pos += set->len[i];
	}
	return pos;
}

const char *
vreg_cred_parse_canonical(const uint8_t *buf, size_t len, VregCredSet *out)
{
	size_t		pos = 1;
	int			last = -1;
	int			k;

	memset(out, 0, sizeof(*out));
	if (len < 1 || buf[0] != VREG_CRED_CANON_VERSION)
		return "unknown plaintext format version";
	while (pos < len)
	{
		size_t		nlen = buf[pos++];
		size_t		vlen;
		int			i;

		if (pos + nlen + 2 > len)
			return "truncated plaintext";
		i = find_key((const char *) buf + pos, nlen);
		if (i <= last)
			return "unknown, repeated or misordered key in plaintext";
		pos += nlen;
		vlen = ((size_t) buf[pos] << 8) | buf[pos + 1];
		pos += 2;
		/* at most 4 bytes per character (PostgreSQL's longest encoding) */
		if (vlen == 0 || vlen > 4 * (size_t) vreg_cred_keys[i].max_chars || pos + vlen > len)
			return "bad value length in plaintext";
		out->present |= 1u << i;
		out->val[i] = (const char *) buf + pos;
		out->len[i] = vlen;
		pos += vlen;
		last = i;
	}
	for (k = 0; k < vreg_cred_nkinds; k++)
		if (out->present == vreg_cred_kinds[k].key_mask)
			return NULL;
	return "plaintext is not a complete set of credentials";
}

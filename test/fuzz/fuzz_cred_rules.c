/*
 * fuzz_cred_rules.c
 *		libFuzzer target for src/cred_rules.c (credential key rules and their
 *		canonical byte form).
 *
 * The input is read two ways:
 *	 1. as up to 16 top-level members of a submitted object, each
 *		<flags> [<keylen> <key>] <vallen: 2 bytes BE> <value>
 *		(flags bit 0: the value is a string; bits 1-2: 1 = key "username",
 *		2 = key "password", otherwise the key bytes follow), characters
 *		counted as UTF-8 the way the server counts them. Whatever validate
 *		accepts is a complete set of one auth kind with every key non-empty
 *		and within its character limit, taken from a member with that key;
 *		its canonical form parses back to the same set and re-encodes to the
 *		same bytes. Every problem message, at any buffer size, is a prefix of
 *		one of the finitely many messages the key table allows (so it never
 *		carries a submitted key or value) and stays inside its buffer;
 *	 2. as a canonical plaintext: what parses is a complete set with every
 *		value non-empty and within the byte limit of its key (4 bytes per
 *		character), and re-encodes to exactly the input (one spelling).
 *		Regression: corpus/cred_rules/regression-canonical-value-too-long (a
 *		2041-byte username used to parse; the check was written first and
 *		the input built by hand, 7 M fuzzer runs had not reached it).
 */
#include "fuzz_common.h"

#include "cred_rules.h"

#define MAX_ITEMS 16
#define MSG_BUF 256

/* Every message vreg_cred_problem can write with a large buffer. */
static char **messages;
static int	nmessages;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int			status,
				key,
				cap = 0;
	uint32_t	present;
	char		buf[MSG_BUF];

	for (status = VREG_CRED_OK; status <= VREG_CRED_MIXED_KINDS; status++)
		for (key = -1; key < vreg_cred_nkeys; key++)
			for (present = 0; present < (1u << vreg_cred_nkeys); present++)
			{
				vreg_cred_problem((VregCredStatus) status, key, present, buf, sizeof(buf));
				if (nmessages == cap)
				{
					cap = cap ? 2 * cap : 64;
					messages = realloc(messages, (size_t) cap * sizeof(char *));
					if (messages == NULL)
						abort();
				}
				messages[nmessages++] = strdup(buf);
			}
	return 0;
}

static int
known_prefix(const char *msg)
{
	int			i;

	for (i = 0; i < nmessages; i++)
		if (strncmp(messages[i], msg, strlen(msg)) == 0)
			return 1;
	return 0;
}

static size_t
utf8_chars(const char *s, size_t len)
{
	size_t		n = 0,
				i;

	for (i = 0; i < len; i++)
		if (((unsigned char) s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

static size_t
read_items(const uint8_t *d, size_t size, VregCredItem *items)
{
	size_t		pos = 0;
	size_t		n = 0;

	while (pos < size && n < MAX_ITEMS)
	{
		VregCredItem *it = &items[n++];
		uint8_t		flags = d[pos++];
		size_t		len;

		memset(it, 0, sizeof(*it));
		it->is_string = flags & 1;
		switch ((flags >> 1) & 3)
		{
			case 1:
				it->key = "username";
				it->keylen = 8;
				break;
			case 2:
				it->key = "password";
				it->keylen = 8;
				break;
			default:
				len = pos < size ? d[pos++] : 0;
				if (len > size - pos)
					len = size - pos;
				it->key = (const char *) d + pos;
				it->keylen = len;
				pos += len;
		}
		len = 0;
		if (pos < size)
			len = (size_t) d[pos++] << 8;
		if (pos < size)
			len |= d[pos++];
		if (len > size - pos)
			len = size - pos;
		it->val = (const char *) d + pos;
		it->vallen = len;
		it->nchars = utf8_chars(it->val, len);
		pos += len;
	}
	return n;
}

static void
check_set_is_valid(const VregCredSet *set)
{
	int			k,
				i,
				kinds = 0;

	for (k = 0; k < vreg_cred_nkinds; k++)
		if (set->present == vreg_cred_kinds[k].key_mask)
			kinds++;
	CHECK(kinds == 1);
	for (i = 0; i < vreg_cred_nkeys; i++)
		if (set->present & (1u << i))
			CHECK(set->len[i] > 0 && set->val[i] != NULL);
}

static void
fuzz_validate(const uint8_t *data, size_t size)
{
	VregCredItem items[MAX_ITEMS];
	size_t		nitems = read_items(data, size, items);
	VregCredSet set,
				back;
	int			key_index = -2;
	VregCredStatus status = vreg_cred_validate(items, nitems, &set, &key_index);
	size_t		buflen,
				i;
	char	   *buf;

	CHECK(status >= VREG_CRED_OK && status <= VREG_CRED_MIXED_KINDS);
	CHECK(key_index >= -1 && key_index < vreg_cred_nkeys);

	if (status == VREG_CRED_OK)
	{
		uint8_t    *canon = malloc(VREG_CRED_CANON_MAX);
		uint8_t    *again = malloc(VREG_CRED_CANON_MAX);
		size_t		n,
					n2;
		int			k;

		if (canon == NULL || again == NULL)
			abort();
		check_set_is_valid(&set);
		for (k = 0; k < vreg_cred_nkeys; k++)
		{
			int			found = 0;

			if (!(set.present & (1u << k)))
				continue;
			/* the value is one member's value, under that key, within limits */
			for (i = 0; i < nitems; i++)
				if (items[i].val == set.val[k] && items[i].vallen == set.len[k] &&
					items[i].keylen == strlen(vreg_cred_keys[k].name) &&
					memcmp(items[i].key, vreg_cred_keys[k].name, items[i].keylen) == 0)
				{
					CHECK(items[i].is_string);
					CHECK(items[i].nchars <= vreg_cred_keys[k].max_chars);
					found = 1;
				}
			CHECK(found);
		}
		/* basic auth needs both keys non-empty */
		CHECK(set.len[0] > 0 && set.len[1] > 0);

		n = vreg_cred_canonical(&set, canon, VREG_CRED_CANON_MAX);
		CHECK(n > 0);
		CHECK(vreg_cred_parse_canonical(canon, n, &back) == NULL);
		CHECK(back.present == set.present);
		for (k = 0; k < vreg_cred_nkeys; k++)
			if (set.present & (1u << k))
				CHECK(back.len[k] == set.len[k] &&
					  memcmp(back.val[k], set.val[k], set.len[k]) == 0);
		n2 = vreg_cred_canonical(&back, again, VREG_CRED_CANON_MAX);
		CHECK(n2 == n && memcmp(canon, again, n) == 0);
		/* too small a buffer is refused, not overrun */
		CHECK(vreg_cred_canonical(&set, again, n - 1) == 0);
		free(canon);
		free(again);
	}
	else if (status == VREG_CRED_NONE)
		CHECK(set.present == 0);

	/* the message, at a buffer size picked by the input, stays inside it */
	buflen = 1 + (size > 0 ? data[size - 1] : 0);
	buf = malloc(buflen);
	if (buf == NULL)
		abort();
	vreg_cred_problem(status, key_index, set.present, buf, buflen);
	CHECK(memchr(buf, '\0', buflen) != NULL);
	CHECK(known_prefix(buf));
	free(buf);
	buf = malloc(buflen);
	if (buf == NULL)
		abort();
	vreg_cred_accepted_keys(buf, buflen);
	CHECK(memchr(buf, '\0', buflen) != NULL);
	free(buf);
}

static void
fuzz_canonical(const uint8_t *data, size_t size)
{
	VregCredSet set;
	const char *problem = vreg_cred_parse_canonical(data, size, &set);
	uint8_t    *again;
	size_t		n;
	int			k;

	if (problem != NULL)
	{
		CHECK(!fuzz_points_into(problem, data, size));
		return;
	}
	check_set_is_valid(&set);
	for (k = 0; k < vreg_cred_nkeys; k++)
		if (set.present & (1u << k))
			CHECK(set.len[k] <= 4 * (size_t) vreg_cred_keys[k].max_chars);
	again = malloc(size);
	if (again == NULL)
		abort();
	n = vreg_cred_canonical(&set, again, size);
	CHECK(n == size && memcmp(again, data, size) == 0);
	free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_validate(data, size);
	fuzz_canonical(data, size);
	return 0;
}

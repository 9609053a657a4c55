/*
 * fuzz_envelope.c
 *		libFuzzer target for src/envelope.c (sealed credentials envelopes).
 *
 * The input is read two ways:
 *	 1. as the four envelope members v, kid, nonce and ct separated by '\n'
 *		(what credentials.c hands over from a jsonb object): decoding must
 *		never crash; a decoded envelope is of format 1 or 2 and has a kid in
 *		1..2147483647, a ciphertext longer than the tag and at most
 *		VREG_ENV_CT_MAX bytes; its formatted JSON carries exactly the same
 *		v, kid, nonce and ct text (canonical base64: one spelling) and
 *		decodes again to the same envelope; and it never opens under the
 *		test key, whatever the bytes (random bytes are no forgery), with
 *		the associated data of either format;
 *	 2. as a plaintext (up to 8192 bytes) and, clipped, as a URL: seal in
 *		format 2 bound to (group, id, URL), format, take the members out of
 *		the JSON text, decode, open gives back exactly the plaintext; the
 *		associated data has the documented length, a URL longer than
 *		VREG_ENV_URL_MAX is refused; the same envelope does not open for
 *		another row, for the same row with another URL (one byte longer,
 *		or one byte changed), with the format 1 associated data of its row
 *		(relabelled as format 1), under another key, or with one
 *		ciphertext bit flipped.
 * Every decode problem is one of the module's static sentences.
 */
#include <sodium.h>

#include "envelope_messages.h"
#define FUZZ_KNOWN_MESSAGES
#include "fuzz_common.h"

#include "envelope.h"

static uint8_t key[VREG_ENV_KEYBYTES];
static uint8_t other_key[VREG_ENV_KEYBYTES];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (sodium_init() < 0)
		abort();
	memset(key, 0x42, sizeof(key));
	memset(other_key, 0x43, sizeof(other_key));
	return 0;
}

/* Find "\"<member>\": " in json and return the value text (quotes stripped). */
static void
member_of(const char *json, const char *member, const char **val, size_t *len)
{
	char		pat[32];
	const char *p;
	const char *end;

	snprintf(pat, sizeof(pat), "\"%s\": ", member);
	p = strstr(json, pat);
	CHECK(p != NULL);
	p += strlen(pat);
	if (*p == '"')
	{
		p++;
		end = strchr(p, '"');
	}
	else
		end = p + strspn(p, "0123456789");
	CHECK(end != NULL);
	*val = p;
	*len = (size_t) (end - p);
}

/* Format env, take the members back out of the text and decode them. */
static void
format_and_decode(const VregEnvelope *env, VregEnvelope *back, VregEnvelopeFields *f, char **text)
{
	size_t		cap = VREG_ENV_TEXT_MAX(env->ctlen);
	size_t		n;
	const char *problem;

	*text = malloc(cap);
	if (*text == NULL)
		abort();
	n = vreg_env_format(env, *text, cap);
	CHECK(n > 0 && n < cap && strlen(*text) == n);
	memset(f, 0, sizeof(*f));
	member_of(*text, "v", &f->v, &f->vlen);
	member_of(*text, "kid", &f->kid, &f->kidlen);
	member_of(*text, "nonce", &f->nonce, &f->noncelen);
	member_of(*text, "ct", &f->ct, &f->ctlen);
	problem = vreg_env_decode(f, back);
	if (problem)
		fprintf(stderr, "formatted envelope does not decode: %s\n", problem);
	CHECK(problem == NULL);
	CHECK(back->version == env->version);
	CHECK(back->kid == env->kid);
	CHECK(memcmp(back->nonce, env->nonce, VREG_ENV_NONCEBYTES) == 0);
	CHECK(back->ctlen == env->ctlen && memcmp(back->ct, env->ct, env->ctlen) == 0);
}

static void
fuzz_decode(const char *in, size_t size)
{
	VregEnvelopeFields f;
	const char *parts[4] = {NULL, NULL, NULL, NULL};
	size_t		lens[4] = {0, 0, 0, 0};
	size_t		start = 0;
	size_t		i;
	int			n = 0;
	static VregEnvelope env,
				back;
	VregEnvelopeFields f2;
	const char *problem;
	char	   *text;
	uint8_t		ad[VREG_ENV_AD_MAX];
	int64_t		ids[2] = {1, 1};
	size_t		adlen;
	uint8_t	   *pt;
	size_t		ptlen = 0;

	for (i = 0; i <= size && n < 4; i++)
		if (i == size || in[i] == '\n')
		{
			parts[n] = in + start;
			lens[n] = i - start;
			n++;
			start = i + 1;
		}
	memset(&f, 0, sizeof(f));
	f.v = parts[0];
	f.vlen = lens[0];
	f.kid = parts[1];
	f.kidlen = lens[1];
	f.nonce = parts[2];
	f.noncelen = lens[2];
	f.ct = parts[3];
	f.ctlen = lens[3];

	memset(&env, 0, sizeof(env));
	problem = vreg_env_decode(&f, &env);
	if (problem != NULL)
	{
		CHECK(!fuzz_points_into(problem, in, size));
		CHECK(fuzz_known_message(problem));
		return;
	}
	CHECK(env.version == VREG_ENV_V1 || env.version == VREG_ENV_V2);
	CHECK(env.kid >= 1 && env.kid <= VREG_ENV_KID_MAX);
	CHECK(env.ctlen > VREG_ENV_ABYTES && env.ctlen <= VREG_ENV_CT_MAX);

	format_and_decode(&env, &back, &f2, &text);
	/* canonical base64: the formatted text is the text that was decoded */
	CHECK(f2.noncelen == f.noncelen && memcmp(f2.nonce, f.nonce, f.noncelen) == 0);
	CHECK(f2.ctlen == f.ctlen && memcmp(f2.ct, f.ct, f.ctlen) == 0);
	CHECK(f2.kidlen == f.kidlen && memcmp(f2.kid, f.kid, f.kidlen) == 0);
	CHECK(f2.vlen == f.vlen && memcmp(f2.v, f.v, f.vlen) == 0);
	free(text);

	/* arbitrary bytes never authenticate */
	adlen = vreg_env_ad(VREG_ENV_DOMAIN_UPSTREAM, ids, 2, ad, sizeof(ad));
	CHECK(adlen > 0);
	pt = malloc(env.ctlen);
	if (pt == NULL)
		abort();
	CHECK(vreg_env_open(&env, key, pt, env.ctlen, &ptlen, ad, adlen) != 0);
	CHECK(vreg_env_open(&env, key, pt, env.ctlen, &ptlen, NULL, 0) != 0);
	adlen = vreg_env_ad_upstream_v2(1, 1, "https://ghcr.io", 15, ad, sizeof(ad));
	CHECK(adlen > 0);
	CHECK(vreg_env_open(&env, key, pt, env.ctlen, &ptlen, ad, adlen) != 0);
	free(pt);
}

/*
 * The associated data of format 2 for (7, 12, url): its length is the
 * documented layout's, and a URL one byte too long is refused.
 */
static size_t
ad_v2(const char *url, size_t urllen, uint8_t *ad)
{
	static char long_url[VREG_ENV_URL_MAX + 1];
	size_t		adlen = vreg_env_ad_upstream_v2(7, 12, url, urllen, ad, VREG_ENV_AD_MAX);

	CHECK(adlen == 4 + strlen(VREG_ENV_DOMAIN_UPSTREAM_V2) + 2 * 12 + 4 + urllen);
	memset(long_url, 'a', sizeof(long_url));
	CHECK(vreg_env_ad_upstream_v2(7, 12, long_url, sizeof(long_url), ad + adlen,
								  VREG_ENV_AD_MAX) == 0);
	return adlen;
}

/*
 * The sealed envelope back (opened with ad) does not open for another row,
 * another URL (url one byte longer, or one byte changed) or with its row's
 * format 1 associated data.
 */
static void
check_bound(const VregEnvelope *back, const char *url, size_t urllen, uint8_t *pt)
{
	static char other_url[VREG_ENV_URL_MAX + 1];
	uint8_t		ad[VREG_ENV_AD_MAX];
	int64_t		ids[2] = {7, 12};
	int64_t		ids2[2] = {7, 13};
	size_t		adlen;
	size_t		ptlen = 0;

	adlen = vreg_env_ad(VREG_ENV_DOMAIN_UPSTREAM, ids, 2, ad, sizeof(ad));
	CHECK(adlen == 4 + strlen(VREG_ENV_DOMAIN_UPSTREAM) + 2 * 12);
	CHECK(vreg_env_open(back, key, pt, back->ctlen, &ptlen, ad, adlen) != 0);
	adlen = vreg_env_ad_upstream_v2(7, 13, url, urllen, ad, sizeof(ad));
	CHECK(adlen > 0 && vreg_env_open(back, key, pt, back->ctlen, &ptlen, ad, adlen) != 0);
	adlen = vreg_env_ad(VREG_ENV_DOMAIN_UPSTREAM, ids2, 2, ad, sizeof(ad));
	CHECK(vreg_env_open(back, key, pt, back->ctlen, &ptlen, ad, adlen) != 0);
	memcpy(other_url, url, urllen);
	if (urllen < VREG_ENV_URL_MAX)
	{
		other_url[urllen] = '/';
		adlen = vreg_env_ad_upstream_v2(7, 12, other_url, urllen + 1, ad, sizeof(ad));
		CHECK(adlen > 0 && vreg_env_open(back, key, pt, back->ctlen, &ptlen, ad, adlen) != 0);
	}
	if (urllen > 0)
	{
		other_url[urllen - 1] ^= 0x20;
		adlen = vreg_env_ad_upstream_v2(7, 12, other_url, urllen, ad, sizeof(ad));
		CHECK(adlen > 0 && vreg_env_open(back, key, pt, back->ctlen, &ptlen, ad, adlen) != 0);
	}
}

static void
fuzz_roundtrip(const uint8_t *data, size_t size)
{
	static VregEnvelope env,
				back;
	VregEnvelopeFields f;
	char	   *text;
	uint8_t		ad[VREG_ENV_AD_MAX];
	const char *url = (const char *) data;
	size_t		urllen = size < VREG_ENV_URL_MAX ? size : VREG_ENV_URL_MAX;
	size_t		adlen;
	uint8_t	   *pt;
	size_t		ptlen = 0;
	size_t		flip;

	if (size > VREG_ENV_CT_MAX - VREG_ENV_ABYTES)
		size = VREG_ENV_CT_MAX - VREG_ENV_ABYTES;
	adlen = ad_v2(url, urllen, ad);

	memset(&env, 0, sizeof(env));
	env.version = VREG_ENV_V2;
	env.kid = size > 0 ? (uint32_t) data[0] * 8388608u + 1u : VREG_ENV_KID_MAX;
	CHECK(vreg_env_seal(&env, key, data, size, ad, adlen) == 0);
	CHECK(env.ctlen == size + VREG_ENV_ABYTES);
	if (size == 0)
		return;					/* a tag-only ct: decode refuses it (tested by fuzz_decode) */

	format_and_decode(&env, &back, &f, &text);
	free(text);

	pt = malloc(back.ctlen);
	if (pt == NULL)
		abort();
	CHECK(vreg_env_open(&back, key, pt, back.ctlen - VREG_ENV_ABYTES, &ptlen, ad, adlen) == 0);
	CHECK(ptlen == size && memcmp(pt, data, size) == 0);
	check_bound(&back, url, urllen, pt);
	CHECK(vreg_env_open(&back, other_key, pt, back.ctlen, &ptlen, ad, adlen) != 0);
	/* a buffer one byte short is refused, not overrun */
	CHECK(vreg_env_open(&back, key, pt, back.ctlen - VREG_ENV_ABYTES - 1, &ptlen, ad, adlen) != 0);
	flip = (size_t) data[size - 1] * 131u % back.ctlen;
	back.ct[flip] ^= (uint8_t) (1u << (data[0] & 7));
	CHECK(vreg_env_open(&back, key, pt, back.ctlen, &ptlen, ad, adlen) != 0);
	free(pt);
}

static void
fuzz_kid(const char *in, size_t size)
{
	uint32_t	kid = 0;
	char		buf[16];

	if (vreg_env_parse_kid(in, size, &kid) == 0)
	{
		CHECK(kid >= 1 && kid <= VREG_ENV_KID_MAX);
		snprintf(buf, sizeof(buf), "%u", (unsigned) kid);
		CHECK(strlen(buf) == size && memcmp(buf, in, size) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_decode((const char *) data, size);
	fuzz_roundtrip(data, size);
	fuzz_kid((const char *) data, size);
	return 0;
}

/*
 * envelope.c
 *		Encode, decode, seal and open credentials envelopes.
 *
 * Pure C plus libsodium: no PostgreSQL headers (see envelope.h for the layout).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "envelope.h"

#if VREG_ENV_KEYBYTES != crypto_aead_xchacha20poly1305_ietf_KEYBYTES || \
	VREG_ENV_NONCEBYTES != crypto_aead_xchacha20poly1305_ietf_NPUBBYTES || \
	VREG_ENV_ABYTES != crypto_aead_xchacha20poly1305_ietf_ABYTES
#error "envelope sizes disagree with libsodium"
#endif

#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL

const char *const vreg_env_members[4] = {"v", "kid", "nonce", "ct"};

int
vreg_env_parse_kid(const char *s, size_t len, uint32_t *kid)
{
	uint64_t	v = 0;
	size_t		i;

	if (s == NULL || len == 0 || len > 10 || s[0] == '0')
		return -1;
	for (i = 0; i < len; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t) (s[i] - '0');
	}
	if (v < 1 || v > VREG_ENV_KID_MAX)
		return -1;
	*kid = (uint32_t) v;
	return 0;
}

/*
 * Strict base64: the standard alphabet with padding, nothing ignored, and the
 * canonical encoding only (re-encoding gives the same text), so an envelope
 * has exactly one spelling.
 */
static int
b64_decode(const char *s, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	char		check[2 * VREG_ENV_CT_MAX + 8];
	const char *end = NULL;

	if (len == 0 || len % 4 != 0 || len >= sizeof(check))
		return -1;
	if (sodium_base642bin(out, cap, s, len, NULL, outlen, &end, B64_VARIANT) != 0 ||
		end != s + len)
		return -1;
	sodium_bin2base64(check, sizeof(check), out, *outlen, B64_VARIANT);
	if (strlen(check) != len || memcmp(check, s, len) != 0)
		return -1;
	return 0;
}

const char *
vreg_env_decode(const VregEnvelopeFields *f, VregEnvelope *out)
{
	size_t		nlen = 0;

	if (f->v == NULL || f->kid == NULL || f->nonce == NULL || f->ct == NULL)
		return "an envelope needs all of the members v, kid, nonce and ct";
	if (!(f->vlen == 1 && (f->v[0] == '0' + VREG_ENV_V1 || f->v[0] == '0' + VREG_ENV_V2)))
		return "unknown envelope format version (v must be 1 or 2)";
	out->version = f->v[0] - '0';
	if (vreg_env_parse_kid(f->kid, f->kidlen, &out->kid) != 0)
		return "kid must be a key id between 1 and 2147483647";
	if (b64_decode(f->nonce, f->noncelen, out->nonce, sizeof(out->nonce), &nlen) != 0 ||
		nlen != VREG_ENV_NONCEBYTES)
		return "nonce must be 24 bytes in canonical base64";
	if (b64_decode(f->ct, f->ctlen, out->ct, sizeof(out->ct), &out->ctlen) != 0)
		return "ct must be canonical base64 of at most 8208 bytes";
	if (out->ctlen <= VREG_ENV_ABYTES)
		return "ct is too short to hold sealed credentials";
	return NULL;
}

size_t
vreg_env_format(const VregEnvelope *env, char *buf, size_t cap)
{
	char		nonce[2 * VREG_ENV_NONCEBYTES + 4];
	size_t		need = VREG_ENV_TEXT_MAX(env->ctlen);
	int			n;

	if (cap < need || (env->version != VREG_ENV_V1 && env->version != VREG_ENV_V2))
		return 0;
	sodium_bin2base64(nonce, sizeof(nonce), env->nonce, VREG_ENV_NONCEBYTES, B64_VARIANT);
	n = snprintf(buf, cap, "{\"v\": %d, \"kid\": %u, \"nonce\": \"%s\", \"ct\": \"",
				 env->version, (unsigned) env->kid, nonce);
	if (n < 0 || (size_t) n >= cap)
		return 0;
	sodium_bin2base64(buf + n, cap - (size_t) n, env->ct, env->ctlen, B64_VARIANT);
	n += (int) strlen(buf + n);
	if ((size_t) n + 3 > cap)
		return 0;
	buf[n++] = '"';
	buf[n++] = '}';
	buf[n] = '\0';
	return (size_t) n;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

size_t
vreg_env_ad(const char *domain, const int64_t *ids, int nids, uint8_t *out, size_t cap)
{
	size_t		dlen = strlen(domain);
	size_t		pos = 0;
	int			i,
				b;

	if (cap < 4 + dlen + (size_t) nids * 12)
		return 0;
	put_be32(out + pos, (uint32_t) dlen);
	pos += 4;
	memcpy(out + pos, domain, dlen);
	pos += dlen;
	for (i = 0; i < nids; i++)
	{
		uint64_t	v = (uint64_t) ids[i];

		put_be32(out + pos, 8);
		pos += 4;
		for (b = 7; b >= 0; b--)
			out[pos++] = (uint8_t) (v >> (8 * b));
	}
	return pos;
}

size_t
vreg_env_ad_upstream_v2(int64_t group_id, int64_t upstream_id, const char *url, size_t urllen,
						uint8_t *out, size_t cap)
{
	int64_t		ids[2] = {group_id, upstream_id};
	size_t		pos;

	if (urllen > VREG_ENV_URL_MAX)
		return 0;
	pos = vreg_env_ad(VREG_ENV_DOMAIN_UPSTREAM_V2, ids, 2, out, cap);
	if (pos == 0 || cap - pos < 4 + urllen)
		return 0;
	put_be32(out + pos, (uint32_t) urllen);
	pos += 4;
	if (urllen > 0)
		memcpy(out + pos, url, urllen);
	return pos + urllen;
}

int
vreg_env_seal(VregEnvelope *env, const uint8_t *key,
			  const uint8_t *pt, size_t ptlen, const uint8_t *ad, size_t adlen)
{
	unsigned long long ctlen = 0;

	if (ptlen + VREG_ENV_ABYTES > sizeof(env->ct))
		return -1;
	randombytes_buf(env->nonce, sizeof(env->nonce));
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(env->ct, &ctlen, pt, ptlen,
												   ad, adlen, NULL, env->nonce, key) != 0)
		return -1;
	env->ctlen = (size_t) ctlen;
	return 0;
}

int
vreg_env_open(const VregEnvelope *env, const uint8_t *key,
			  uint8_t *pt, size_t cap, size_t *ptlen, const uint8_t *ad, size_t adlen)
{
	unsigned long long len = 0;

	if (env->ctlen <= VREG_ENV_ABYTES || cap < env->ctlen - VREG_ENV_ABYTES)
		return -1;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &len, NULL, env->ct, env->ctlen,
												   ad, adlen, env->nonce, key) != 0)
		return -1;
	*ptlen = (size_t) len;
	return 0;
}

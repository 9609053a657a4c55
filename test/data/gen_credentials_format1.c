/*
 * gen_credentials_format1.c
 *		Writes test/data/credentials_format1.env: envelopes of format 1, as
 *		containers_vreg 0.1.0 and 0.2.0 sealed them (associated data bound to
 *		group_id and id only), under a fixed test key, with the fingerprint
 *		secret and the fingerprints that go with them.
 *
 * Run once; its output is committed, so the test reads envelopes that no
 * code of the current version wrote. The layouts are written out here by
 * hand, not taken from src/, so a change to src/ that breaks format 1 is
 * caught rather than followed:
 *	associated data: be32 length + domain, then per id be32 8 + be64 id;
 *	plaintext: byte 1, then per key: 1-byte name length, name, be16 value
 *	length, value (username, then password);
 *	envelope: {"v": 1, "kid": K, "nonce": "<base64>", "ct": "<base64>"};
 *	fingerprint: BLAKE2b-256 of the plaintext keyed with the secret.
 *
 *	cc -o /tmp/gen test/data/gen_credentials_format1.c -lsodium
 *	/tmp/gen > test/data/credentials_format1.env
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

static uint8_t key[32];

static size_t
put_field(uint8_t *p, const void *bytes, uint32_t len)
{
	p[0] = (uint8_t) (len >> 24);
	p[1] = (uint8_t) (len >> 16);
	p[2] = (uint8_t) (len >> 8);
	p[3] = (uint8_t) len;
	memcpy(p + 4, bytes, len);
	return 4 + len;
}

static size_t
ad_v1(const char *domain, const int64_t *ids, int nids, uint8_t *ad)
{
	size_t		pos = put_field(ad, domain, (uint32_t) strlen(domain));
	int			i,
				b;

	for (i = 0; i < nids; i++)
	{
		uint8_t		be[8];

		for (b = 0; b < 8; b++)
			be[b] = (uint8_t) ((uint64_t) ids[i] >> (8 * (7 - b)));
		pos += put_field(ad + pos, be, 8);
	}
	return pos;
}

static void
print_b64(const uint8_t *bytes, size_t len)
{
	char		out[1024];

	sodium_bin2base64(out, sizeof(out), bytes, len, sodium_base64_VARIANT_ORIGINAL);
	fputs(out, stdout);
}

static void
print_hex(const uint8_t *bytes, size_t len)
{
	char		out[200];

	sodium_bin2hex(out, sizeof(out), bytes, len);
	fputs(out, stdout);
}

/* NAME='{"v": 1, ...}' sealing pt under key 1 with ad */
static void
print_envelope(const char *name, const uint8_t *pt, size_t ptlen, const uint8_t *ad, size_t adlen)
{
	uint8_t		nonce[24];
	uint8_t		ct[512];
	unsigned long long ctlen;

	randombytes_buf(nonce, sizeof(nonce));
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ctlen, pt, ptlen, ad, adlen, NULL, nonce, key);
	printf("%s='{\"v\": 1, \"kid\": 1, \"nonce\": \"", name);
	print_b64(nonce, sizeof(nonce));
	fputs("\", \"ct\": \"", stdout);
	print_b64(ct, (size_t) ctlen);
	fputs("\"}'\n", stdout);
}

/* One key of the plaintext: 1-byte name length, name, be16 value length, value. */
static size_t
put_key(uint8_t *p, const char *name, const char *value)
{
	size_t		nlen = strlen(name);
	size_t		vlen = strlen(value);

	p[0] = (uint8_t) nlen;
	memcpy(p + 1, name, nlen);
	p[1 + nlen] = (uint8_t) (vlen >> 8);
	p[2 + nlen] = (uint8_t) vlen;
	memcpy(p + 3 + nlen, value, vlen);
	return 3 + nlen + vlen;
}

/* An upstream's envelope and fingerprint of {"username": user, "password": pw}. */
static void
print_upstream(const char *name, int64_t group_id, int64_t id, const char *user, const char *pw,
			   const uint8_t *secret)
{
	int64_t		ids[2] = {group_id, id};
	uint8_t		ad[256];
	size_t		adlen = ad_v1("containers_vreg.upstreams.credentials", ids, 2, ad);
	uint8_t		pt[256];
	size_t		pos = 0;
	uint8_t		fp[32];
	char		fpname[64];

	pt[pos++] = 1;
	pos += put_key(pt + pos, "username", user);
	pos += put_key(pt + pos, "password", pw);
	print_envelope(name, pt, pos, ad, adlen);
	crypto_generichash(fp, sizeof(fp), pt, pos, secret, 32);
	snprintf(fpname, sizeof(fpname), "%s_FP=", name);
	fputs(fpname, stdout);
	print_hex(fp, sizeof(fp));
	fputs("\n", stdout);
}

int
main(void)
{
	uint8_t		secret[32];
	int64_t		one[1] = {1};
	uint8_t		ad[256];
	size_t		adlen;

	if (sodium_init() < 0)
		return 1;
	randombytes_buf(key, sizeof(key));
	randombytes_buf(secret, sizeof(secret));
	puts("# Generated once by test/data/gen_credentials_format1.c (see there); do not edit.");
	puts("# Format 1 envelopes under the test-only key 1 below; read by test/scripts/credentials_format1.sh.");
	fputs("KEY1='1 ", stdout);
	print_hex(key, sizeof(key));
	puts("'");
	adlen = ad_v1("containers_vreg.credentials_secret.secret", one, 1, ad);
	print_envelope("SECRET_ENV", secret, sizeof(secret), ad, adlen);
	print_upstream("ENV_42_3", 42, 3, "ci-bot", "format1-pw-3", secret);
	print_upstream("ENV_42_4", 42, 4, "ci-bot", "format1-pw-4", secret);
	print_upstream("ENV_42_3_OLD", 42, 3, "ci-bot", "format1-pw-3-old", secret);
	return 0;
}

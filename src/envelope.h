/*
 * envelope.h
 *		Layout of a sealed credentials envelope (docs/design.md, "Credentials").
 *
 * Pure C plus libsodium (no postgres.h), so a fuzzer links envelope.c alone.
 * The stored form is the jsonb object
 *		{"v": <format>, "kid": <key id>, "nonce": "<base64, 24 bytes>", "ct": "<base64>"}
 * sealed with XChaCha20-Poly1305 (IETF) under the key <kid>. The associated
 * data binds it to its owner; every field is length-prefixed (4-byte
 * big-endian length, then the bytes; ids as 8-byte big-endian integers):
 *
 *	format 1: domain, then the owner's ids. What upstreams' credentials were
 *			  sealed as up to 0.2.0 (domain VREG_ENV_DOMAIN_UPSTREAM, then
 *			  group_id and id), and still what the fingerprint secret is
 *			  sealed as (domain VREG_ENV_DOMAIN_SECRET, then 1): the secret
 *			  belongs to no URL.
 *	format 2: domain VREG_ENV_DOMAIN_UPSTREAM_V2, group_id, id, then the
 *			  upstream's URL as bytes. Every upstream envelope is sealed so,
 *			  so it opens only on the row and the URL it was sealed for.
 *
 * The format is not itself authenticated, and needs not be: the two formats'
 * associated data differ (another domain), so an envelope whose "v" is
 * changed does not open.
 */
#ifndef VREG_ENVELOPE_H
#define VREG_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

/* Envelope formats (the "v" member); see above. */
#define VREG_ENV_V1			1
#define VREG_ENV_V2			2
#define VREG_ENV_KEYBYTES	32
#define VREG_ENV_NONCEBYTES 24
#define VREG_ENV_ABYTES		16
/* Largest ciphertext accepted (plaintext limit + tag). */
#define VREG_ENV_CT_MAX		(8192 + VREG_ENV_ABYTES)
/* Largest key id (fits a jsonb number and an int4). */
#define VREG_ENV_KID_MAX	2147483647u
/* Longest URL bound into associated data: 255 characters of up to 4 bytes. */
#define VREG_ENV_URL_MAX	1020
/* Room for an associated-data buffer: domain + up to 4 ids, then a URL. */
#define VREG_ENV_AD_MAX		(256 + 4 + VREG_ENV_URL_MAX)

/* Associated-data domains: what kind of row an envelope belongs to. */
#define VREG_ENV_DOMAIN_UPSTREAM "containers_vreg.upstreams.credentials"
#define VREG_ENV_DOMAIN_UPSTREAM_V2 "containers_vreg.upstreams.credentials.v2"
#define VREG_ENV_DOMAIN_SECRET	 "containers_vreg.credentials_secret.secret"

/* The decoded parts of an envelope. */
typedef struct VregEnvelope
{
	int			version;		/* VREG_ENV_V1 or VREG_ENV_V2 */
	uint32_t	kid;
	uint8_t		nonce[VREG_ENV_NONCEBYTES];
	uint8_t		ct[VREG_ENV_CT_MAX];
	size_t		ctlen;
} VregEnvelope;

/* The envelope's JSON members as text (NULL when absent), as found. */
typedef struct VregEnvelopeFields
{
	const char *v;				/* number text */
	size_t		vlen;
	const char *kid;			/* number text */
	size_t		kidlen;
	const char *nonce;			/* string */
	size_t		noncelen;
	const char *ct;				/* string */
	size_t		ctlen;
} VregEnvelopeFields;

/* Member names of the envelope object (an object with any of them is an envelope). */
extern const char *const vreg_env_members[4];

/*
 * Check and decode the members into *out. Returns NULL, or a description of
 * the first problem (never containing input bytes).
 */
extern const char *vreg_env_decode(const VregEnvelopeFields *f, VregEnvelope *out);

/* Parse a positive decimal key id ("1" .. "2147483647", no sign, no leading 0). */
extern int	vreg_env_parse_kid(const char *s, size_t len, uint32_t *kid);

/*
 * Format an envelope (of its version) as JSON text into buf; returns the
 * length, or 0 when buf is too small or the version is unknown.
 */
extern size_t vreg_env_format(const VregEnvelope *env, char *buf, size_t cap);

/* Buffer size vreg_env_format needs for a ciphertext of ctlen bytes. */
#define VREG_ENV_TEXT_MAX(ctlen) (96 + 2 * VREG_ENV_NONCEBYTES + 2 * (ctlen) + 4)

/*
 * Associated data of format 1: domain and ids, each length-prefixed. Returns
 * the length, or 0 when it does not fit cap.
 */
extern size_t vreg_env_ad(const char *domain, const int64_t *ids, int nids,
						  uint8_t *out, size_t cap);

/*
 * Associated data of format 2 for an upstream: VREG_ENV_DOMAIN_UPSTREAM_V2,
 * group_id, id and the URL's bytes, each length-prefixed. Returns the length,
 * or 0 when the URL is longer than VREG_ENV_URL_MAX or it does not fit cap.
 */
extern size_t vreg_env_ad_upstream_v2(int64_t group_id, int64_t upstream_id,
									  const char *url, size_t urllen,
									  uint8_t *out, size_t cap);

/* Seal pt under key with a random nonce into env (kid set by caller). 0 = ok. */
extern int	vreg_env_seal(VregEnvelope *env, const uint8_t *key,
						  const uint8_t *pt, size_t ptlen,
						  const uint8_t *ad, size_t adlen);

/*
 * Open env under key into pt (cap >= env->ctlen - ABYTES); *ptlen set.
 * 0 = ok, -1 = does not authenticate (tampered, wrong row or wrong key).
 */
extern int	vreg_env_open(const VregEnvelope *env, const uint8_t *key,
						  uint8_t *pt, size_t cap, size_t *ptlen,
						  const uint8_t *ad, size_t adlen);

#endif							/* VREG_ENVELOPE_H */

/*
 * envelope.h
 *		Layout of a sealed credentials envelope (docs/design.md, "Credentials").
 *
 * Pure C plus libsodium (no postgres.h), so a fuzzer links envelope.c alone.
 * The stored form is the jsonb object
 *		{"v": 1, "kid": <key id>, "nonce": "<base64, 24 bytes>", "ct": "<base64>"}
 * sealed with XChaCha20-Poly1305 (IETF) under the key <kid>. The associated
 * data binds it to its row: a domain string and the row's ids, each
 * length-prefixed (4-byte big-endian length, then the bytes; ids as 8-byte
 * big-endian integers).
 */
#ifndef VREG_ENVELOPE_H
#define VREG_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define VREG_ENV_VERSION	1
#define VREG_ENV_KEYBYTES	32
#define VREG_ENV_NONCEBYTES 24
#define VREG_ENV_ABYTES		16
/* Largest ciphertext accepted (plaintext limit + tag). */
#define VREG_ENV_CT_MAX		(8192 + VREG_ENV_ABYTES)
/* Largest key id (fits a jsonb number and an int4). */
#define VREG_ENV_KID_MAX	2147483647u
/* Room for an associated-data buffer: domain + up to 4 ids. */
#define VREG_ENV_AD_MAX		256

/* Associated-data domains: what kind of row an envelope belongs to. */
#define VREG_ENV_DOMAIN_UPSTREAM "containers_vreg.upstreams.credentials"
#define VREG_ENV_DOMAIN_SECRET	 "containers_vreg.credentials_secret.secret"

/* The decoded parts of an envelope. */
typedef struct VregEnvelope
{
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
 * Format an envelope as JSON text into buf; returns the length, or 0 when buf
 * is too small.
 */
extern size_t vreg_env_format(const VregEnvelope *env, char *buf, size_t cap);

/* Buffer size vreg_env_format needs for a ciphertext of ctlen bytes. */
#define VREG_ENV_TEXT_MAX(ctlen) (96 + 2 * VREG_ENV_NONCEBYTES + 2 * (ctlen) + 4)

/*
 * Associated data: domain and ids, each length-prefixed. Returns the length,
 * or 0 when it does not fit cap.
 */
extern size_t vreg_env_ad(const char *domain, const int64_t *ids, int nids,
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

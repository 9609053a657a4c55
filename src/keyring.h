/*
 * keyring.h
 *		The keyring file named by containers_vreg.keyring_file: loading,
 *		reloading when the setting or the file changes, and sealing/opening
 *		envelopes without the key bytes ever leaving keyring.c.
 */
#ifndef VREG_KEYRING_H
#define VREG_KEYRING_H

#include "postgres.h"

#include "envelope.h"

/* The setting (defined in containers_vreg.c). */
extern char *vreg_keyring_file;

typedef enum VregOpenResult
{
	VREG_OPEN_OK,
	VREG_OPEN_NO_KEY,			/* the envelope's key id is not in the keyring */
	VREG_OPEN_FAILED			/* does not authenticate: tampered or other row */
} VregOpenResult;

/*
 * Make sure the current keyring is loaded (re-reading the file when the
 * setting or the file changed) and return the id of the sealing key.
 * Errors (at use, never at load of the library): setting empty (55000),
 * file missing or unreadable (58P01 / 42501 / 58030), bad ownership or
 * permissions or a bad line (F0000, naming the file and the line).
 */
extern uint32 vreg_keyring_sealing_kid(void);

/* Seal under the sealing key; env->kid is set. Errors as above. */
extern void vreg_keyring_seal(VregEnvelope *env, const uint8 *pt, size_t ptlen,
							  const uint8 *ad, size_t adlen);

/* Open env with the key env->kid. */
extern VregOpenResult vreg_keyring_open(const VregEnvelope *env, uint8 *pt, size_t cap,
										size_t *ptlen, const uint8 *ad, size_t adlen);

#endif							/* VREG_KEYRING_H */

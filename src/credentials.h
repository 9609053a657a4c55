/*
 * credentials.h
 *		Upstream credentials (docs/design.md, "Credentials"): the sealing trigger, the
 *		fingerprint secret, upstream_credentials() and rotate_credentials().
 */
#ifndef VREG_CREDENTIALS_H
#define VREG_CREDENTIALS_H

#include "postgres.h"

/* Length of credentials_fingerprint for an upstream with credentials. */
#define VREG_FINGERPRINT_BYTES 32
/* Length of the fingerprint secret. */
#define VREG_FP_SECRET_BYTES 32

#endif							/* VREG_CREDENTIALS_H */

/*
 * containers_vreg.c
 *		Module entry point: PG_MODULE_MAGIC, _PG_init and settings.
 *
 * The extension works with CREATE EXTENSION alone; nothing here requires
 * shared_preload_libraries.
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/guc.h"

#include "containers_vreg.h"
#include "keyring.h"

PG_MODULE_MAGIC;

/* containers_vreg.keyring_file (keyring.c reads it at use). */
char	   *vreg_keyring_file = NULL;

/* containers_vreg.allow_local_upstreams (upstream_url.c checks it). */
bool		vreg_allow_local_upstreams = false;

void		_PG_init(void);

void
_PG_init(void)
{
	if (sodium_init() < 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not initialize libsodium")));

	/*
	 * Superuser-only and reloadable: the path is not secret, but nobody else
	 * needs to know where the keys are. The boot value is a string literal
	 * (static storage); the GUC machinery keeps its own copies.
	 */
	DefineCustomStringVariable("containers_vreg.keyring_file",
							   "Path of the keyring file that seals upstream credentials.",
							   "One key per line: \"<key id> <64 hex digits>\"; the highest key id seals, every key opens. The file must be readable only by the server's OS user. Re-read at the next use after a change.",
							   &vreg_keyring_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	/*
	 * Superuser-only (PGC_SUSET), off by default, visible to every role: the
	 * registry service reads it to apply the same rule when it connects.
	 * Checked when an upstream url is written, not in the table's CHECK
	 * constraint, so that a restore never fails on rows written while it was
	 * on (see upstream_url.c).
	 */
	DefineCustomBoolVariable("containers_vreg.allow_local_upstreams",
							 "Accept upstream urls whose host is this machine or a private network.",
							 "Off: localhost, loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7) and shared (100.64/10) hosts are refused when an upstream url is written. On: they are accepted, for a registry on the local network or in development. Link-local (cloud metadata), unspecified, multicast and reserved addresses are refused either way.",
							 &vreg_allow_local_upstreams,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("containers_vreg");
#else
	EmitWarningsOnPlaceholders("containers_vreg");
#endif
}

/*
 * Take a transaction-level exclusive lock on (key, lockclass) in this
 * database. Used to serialise rules that count rows of one group or registry.
 */
void
vreg_lock_group_key(int64 key, uint16 lockclass)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId,
						 (uint32) ((uint64) key >> 32),
						 (uint32) ((uint64) key & 0xFFFFFFFF),
						 lockclass);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

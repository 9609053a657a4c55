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

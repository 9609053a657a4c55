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

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	if (sodium_init() < 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("containers_vreg: libsodium could not be initialised")));

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

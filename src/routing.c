/*
 * routing.c
 *		Where a group's rows live: the cache_entries partition PostgreSQL
 *		routes them to, the remainder for a given modulus, and the shard.
 *
 * cache_entry_partition() answers from the table's real partition key and
 * bounds (relcache), not from a hard-coded modulus: the row hash is the one
 * compute_partition_hash_value() gives (the key's hash support function with
 * HASH_PARTITION_SEED, combined with hash_combine64), and the partition is
 * boundinfo->indexes[hash % greatest modulus], as get_partition_for_tuple()
 * does for hash partitioning. That lookup array covers mixed moduli too.
 *
 * Per backend we cache, for the last parent asked about, a copy of the hash
 * support function, the greatest modulus and the slot -> partition OID map.
 * A call first takes AccessShareLock on the parent unless this transaction
 * already holds it (the first acquisition in a transaction processes pending
 * invalidations), and a relcache invalidation callback drops the cache when
 * the parent changes (ATTACH / DETACH / DROP of a partition invalidate the
 * parent's relcache entry). While a DETACH ... CONCURRENTLY is pending the
 * answer depends on the snapshot, so nothing is cached then.
 *
 * cache_entry_shard() takes the shard from the HIGH 32 bits of the same row
 * hash: the local partitioning uses hash % modulus, i.e. the low bits for the
 * power-of-two moduli create_hash_partitions() is used with, so the groups of
 * any one shard still fill every partition of that shard evenly.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "containers_vreg.h"
#include "routing.h"
#include "vreg_common.h"

/* Per-backend routing cache for one parent table. */
typedef struct RouteCache
{
	bool		valid;
	Oid			parent;
	FmgrInfo	hashfn;			/* copy of the key's hash support function */
	Oid			collation;		/* partition key collation */
	int			greatest_modulus;
	Oid		   *slot_oid;		/* [greatest_modulus]; InvalidOid = none */
	bool	   *slot_leaf;		/* [greatest_modulus] */
} RouteCache;

static RouteCache route_cache;
static MemoryContext route_cxt = NULL;
static bool callback_registered = false;

/*
 * The parent this (sub)transaction already holds AccessShareLock on, so that
 * a statement routing 100k keys takes the lock once, not 100k times. Cleared
 * at the end of the transaction and on any subtransaction abort (which may
 * release the lock); clearing too often only costs a re-lock.
 */
static Oid	locked_parent = InvalidOid;

/*
 * The user whose SELECT privilege on locked_parent has been checked in this
 * transaction (InvalidOid: nobody), so that the SQL-callable functions check
 * once per transaction, not once per key. Cleared with locked_parent, by a
 * relcache invalidation of the parent (GRANT, REVOKE and a change of owner
 * send one) and by any change of roles or role membership.
 */
static Oid	checked_user = InvalidOid;

/* Hooked into the extension's relcache callback (vreg_common.c). */
static void
route_relcache_hook(Oid relid)
{
	if (!OidIsValid(relid) || relid == route_cache.parent)
		route_cache.valid = false;
	if (!OidIsValid(relid) || relid == locked_parent)
		checked_user = InvalidOid;
}

static void
route_roles_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	checked_user = InvalidOid;
}

static void
route_xact_callback(XactEvent event, void *arg)
{
	locked_parent = InvalidOid;
	checked_user = InvalidOid;
}

static void
route_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		locked_parent = InvalidOid;
		checked_user = InvalidOid;
	}
}

static void
route_register_callback(void)
{
	if (callback_registered)
		return;
	vreg_on_relcache_invalidation(route_relcache_hook);
	CacheRegisterSyscacheCallback(AUTHOID, route_roles_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, route_roles_callback, (Datum) 0);
	RegisterXactCallback(route_xact_callback, NULL);
	RegisterSubXactCallback(route_subxact_callback, NULL);
	callback_registered = true;
}

uint64
vreg_group_hash(int64 group_id)
{
	uint64		h;

	h = DatumGetUInt64(DirectFunctionCall2(hashint8extended,
										   Int64GetDatum(group_id),
										   UInt64GetDatum(HASH_PARTITION_SEED)));
	return hash_combine64(0, h);
}

/*
 * Build the cache for `parent` from the relcache. The caller holds a lock on
 * parent. Leaves route_cache.valid false when the answer must not be reused
 * (a detach is pending).
 */
static void
route_cache_build(Oid parent)
{
	Relation	rel;
	PartitionKey key;
	PartitionDesc pd;
	MemoryContext old;
	int			greatest;
	int			i;

	route_cache.valid = false;
	route_cache.parent = InvalidOid;

	rel = try_relation_open(parent, NoLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", parent)));

	if (rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table \"%s\" is not partitioned",
						RelationGetRelationName(rel))));

	key = RelationGetPartitionKey(rel);
	if (key->strategy != PARTITION_STRATEGY_HASH)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" is not partitioned by hash",
						RelationGetRelationName(rel))));
	if (key->partnatts != 1 || key->partattrs[0] == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("partition key of table \"%s\" is not a single column",
						RelationGetRelationName(rel))));
	if (key->parttypid[0] != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("partition key of table \"%s\" is of type %s, not bigint",
						RelationGetRelationName(rel),
						format_type_be(key->parttypid[0]))));

#if PG_VERSION_NUM >= 140000
	pd = RelationGetPartitionDesc(rel, !IsolationUsesXactSnapshot());
#else
	pd = RelationGetPartitionDesc(rel);
#endif

	if (route_cxt == NULL)
		route_cxt = AllocSetContextCreate(CacheMemoryContext,
										  "containers_vreg routing cache",
										  ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(route_cxt);

	old = MemoryContextSwitchTo(route_cxt);
	fmgr_info_copy(&route_cache.hashfn, &key->partsupfunc[0], route_cxt);
	route_cache.collation = key->partcollation[0];
	greatest = (pd->nparts > 0 && pd->boundinfo != NULL)
		? get_hash_partition_greatest_modulus(pd->boundinfo) : 0;
	route_cache.greatest_modulus = greatest;
	route_cache.slot_oid = palloc(sizeof(Oid) * Max(greatest, 1));
	route_cache.slot_leaf = palloc(sizeof(bool) * Max(greatest, 1));
	for (i = 0; i < greatest; i++)
	{
		int			idx = pd->boundinfo->indexes[i];

		route_cache.slot_oid[i] = idx >= 0 ? pd->oids[idx] : InvalidOid;
		route_cache.slot_leaf[i] = idx >= 0 ? pd->is_leaf[idx] : false;
	}
	MemoryContextSwitchTo(old);

	route_cache.parent = parent;
#if PG_VERSION_NUM >= 140000
	route_cache.valid = !pd->detached_exist;
#else
	route_cache.valid = true;
#endif
	relation_close(rel, NoLock);
}

/*
 * The SQL-callable routing functions are executable by whoever may use the
 * schema, so they must not lock or describe a table the caller could not
 * read: SELECT on it is required (pg_class_aclcheck raises 42P01 for an
 * unknown OID). funcname names the function in the hint.
 */
static void
route_require_select(Oid relid, const char *funcname)
{
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", get_rel_name(relid)),
				 errhint("%s() needs SELECT on the partitioned table.", funcname)));
}

/*
 * Lock parent (once per transaction), make sure route_cache describes it and
 * return the slot of the lookup array the key hashes to, or -1 when the table
 * has no partitions. With a funcname, the current user must have SELECT on
 * parent, checked before the lock is taken.
 */
static int
route_slot(Oid parent, int64 key, const char *funcname)
{
	Datum		value = Int64GetDatum(key);
	bool		isnull = false;
	uint64		rowhash;

	route_register_callback();

	/*
	 * Lock as a query on the table would; the first acquisition in a
	 * transaction also processes pending invalidations.
	 */
	if (parent != locked_parent)
	{
		if (funcname != NULL)
			route_require_select(parent, funcname);
		LockRelationOid(parent, AccessShareLock);
		locked_parent = parent;
		checked_user = InvalidOid;
	}
	if (funcname != NULL && checked_user != GetUserId())
	{
		/*
		 * Also after a first lock: it processed invalidations, such as a
		 * REVOKE committed meanwhile. Then remembered for the transaction.
		 */
		route_require_select(parent, funcname);
		checked_user = GetUserId();
	}

	if (!route_cache.valid || route_cache.parent != parent)
		route_cache_build(parent);
	/* route_cache holds the answer for parent now, valid or one-shot */

	if (route_cache.greatest_modulus == 0)
		return -1;

	rowhash = compute_partition_hash_value(1, &route_cache.hashfn,
										   &route_cache.collation,
										   &value, &isnull);
	return (int) (rowhash % (uint64) route_cache.greatest_modulus);
}

Oid
vreg_route_partition(Oid parent, int64 key, const char *funcname)
{
	int			slot = route_slot(parent, key, funcname);
	Oid			part;

	if (slot < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("no partition of relation \"%s\" found for group %lld",
						get_rel_name(parent), (long long) key),
				 errdetail("The table has no partitions."),
				 errhint("Create them with containers_vreg.create_hash_partitions().")));

	part = route_cache.slot_oid[slot];

	if (!OidIsValid(part))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("no partition of relation \"%s\" found for group %lld",
						get_rel_name(parent), (long long) key),
				 errdetail("No partition covers remainder %d of modulus %d.",
						   slot, route_cache.greatest_modulus),
				 errhint("Attach a partition FOR VALUES WITH (MODULUS %d, REMAINDER %d).",
						 route_cache.greatest_modulus, slot)));
	if (!route_cache.slot_leaf[slot])
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("partition \"%s\" of relation \"%s\" is itself partitioned",
						get_rel_name(part), get_rel_name(parent)),
				 errdetail("Routing through sub-partitions is not supported.")));

	return part;
}

Oid
vreg_route_leaf_partition(Oid parent, int64 key)
{
	int			slot = route_slot(parent, key, NULL);

	if (slot < 0 || !route_cache.slot_leaf[slot])
		return InvalidOid;
	return route_cache.slot_oid[slot];
}

/*
 * cache_entry_partition(group_id bigint) -> regclass
 *
 * SELECT on cache_entries is required before the table is locked.
 */
PG_FUNCTION_INFO_V1(containers_vreg_cache_entry_partition);
Datum
containers_vreg_cache_entry_partition(PG_FUNCTION_ARGS)
{
	PG_RETURN_OID(vreg_route_partition(vreg_relid("cache_entries", false), PG_GETARG_INT64(0),
									   "cache_entry_partition"));
}

/*
 * hash_partition_for(parent regclass, key bigint) -> regclass
 *
 * SELECT on parent is required before the table is locked.
 */
PG_FUNCTION_INFO_V1(containers_vreg_hash_partition_for);
Datum
containers_vreg_hash_partition_for(PG_FUNCTION_ARGS)
{
	PG_RETURN_OID(vreg_route_partition(PG_GETARG_OID(0), PG_GETARG_INT64(1),
									   "hash_partition_for"));
}

/*
 * cache_entry_partition_index(group_id bigint, modulus integer) -> integer
 */
PG_FUNCTION_INFO_V1(containers_vreg_cache_entry_partition_index);
Datum
containers_vreg_cache_entry_partition_index(PG_FUNCTION_ARGS)
{
	int64		group_id = PG_GETARG_INT64(0);
	int32		modulus = PG_GETARG_INT32(1);

	if (modulus < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("modulus must be a positive integer, not %d", modulus)));

	PG_RETURN_INT32((int32) (vreg_group_hash(group_id) % (uint64) modulus));
}

/*
 * cache_entry_shard(group_id bigint, shards integer) -> integer
 */
PG_FUNCTION_INFO_V1(containers_vreg_cache_entry_shard);
Datum
containers_vreg_cache_entry_shard(PG_FUNCTION_ARGS)
{
	int64		group_id = PG_GETARG_INT64(0);
	int32		shards = PG_GETARG_INT32(1);

	if (shards < 1 || shards > VREG_MAX_SHARDS || (shards & (shards - 1)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("shard count must be a power of two between 1 and %d, not %d",
						VREG_MAX_SHARDS, shards),
				 errhint("PL/Proxy requires a power-of-two number of partitions.")));

	PG_RETURN_INT32((int32) ((vreg_group_hash(group_id) >> 32) % (uint64) shards));
}

/*
 * routing.h
 *		Hash-partition and shard routing of a group's rows (docs/design.md,
 *		"Partitions and scale").
 */
#ifndef ROUTING_H
#define ROUTING_H

#include "postgres.h"

#include "vreg_limits.h"		/* VREG_MAX_SHARDS */

/*
 * The 64-bit row hash PostgreSQL's hash partitioning computes for a one-column
 * bigint key: hashint8extended(key, HASH_PARTITION_SEED) combined into 0 with
 * hash_combine64, exactly as compute_partition_hash_value() does.
 */
extern uint64 vreg_group_hash(int64 group_id);

/*
 * The leaf partition of the hash-partitioned table `parent` that PostgreSQL
 * routes a row with partition key `key` to. Raises 23514 when no partition
 * accepts the key, 0A000 / 42809 / 42804 for a table this cannot route. With
 * a funcname (the SQL function asking, named in the hint), the current user
 * must have SELECT on parent (42501), checked before parent is locked.
 */
extern Oid	vreg_route_partition(Oid parent, int64 key, const char *funcname);

/*
 * The same partition, or InvalidOid instead of an error when no partition
 * takes the key or it is itself partitioned (callers that have another way
 * to answer, such as resolve()'s planned query). Same lock and cache.
 */
extern Oid	vreg_route_leaf_partition(Oid parent, int64 key);

#endif							/* ROUTING_H */

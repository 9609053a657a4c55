/*
 * positions.h
 *		Upstream positions of a registry: append, move, compaction, limit,
 *		commit-time contiguity and the registry lock (docs/design.md,
 *		"Upstream order").
 */
#ifndef VREG_POSITIONS_H
#define VREG_POSITIONS_H

#include "postgres.h"

/*
 * Lock the registry row (group_id, registry_id) FOR NO KEY UPDATE, reading
 * with the latest snapshot, so that every change of the registry's links is
 * serialised on that row. Returns false when no such registry is visible.
 * Must be called inside an SPI connection.
 */
extern bool vreg_lock_registry(int64 group_id, int64 registry_id);

#endif							/* VREG_POSITIONS_H */

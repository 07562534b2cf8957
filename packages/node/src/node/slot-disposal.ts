import type { PoolState, SlotState } from './slot-scheduling.js'
import type { SlotWaits } from './slot-waits.js'

/**
 * When a slot's worker gets its dispose() besides a switch to another pool:
 * its pool closed (its client is gone), or the node stops. The worker's
 * output meanwhile still belongs to its pool (see the agent's onSlotOutput).
 */

/** How long a worker's dispose() may take as the node stops, or as maxJobsPerSlot replaces its process, before the process is killed. */
export const DISPOSE_GRACE_MS = 10_000

/** An idle slot whose pool closed disposes of its worker (a busy one does once its jobs end). Says whether it started to. */
export function disposeIfClosed(slot: SlotState, pools: ReadonlyMap<number, PoolState>): boolean {
  const pool = slot.poolId === undefined ? undefined : pools.get(slot.poolId)
  if (pool?.closed !== true || slot.phase !== 'ready' || slot.assigned.length > 0 || slot.pendingJob !== undefined)
    return false
  slot.phase = 'disposing'
  slot.process.send({ type: 'dispose' })
  return true
}

/** Forgets closed pools that no slot holds any more (their spec, their updates). */
export function forgetClosedPools(pools: Map<number, PoolState>, slots: readonly SlotState[]): void {
  for (const [poolId, pool] of pools) {
    if (!pool.closed) continue
    if (slots.some((slot) => slot.poolId === poolId || slot.pendingJob?.poolId === poolId)) continue
    pools.delete(poolId)
  }
}

/**
 * Disposes of a slot's worker as the node stops, within DISPOSE_GRACE_MS. A job
 * still running there (past the drain, or cancelled) has `jobGraceMs` to end
 * first; if it doesn't, the worker is not disposed of and the process just ends.
 */
export async function disposeForStop(slot: SlotState, waits: SlotWaits, jobGraceMs: number): Promise<void> {
  const gone = (): boolean => slot.poolId === undefined || !slot.process.running
  if (gone()) return
  if (!(await waits.until(() => gone() || slot.assigned.length === 0, jobGraceMs)) || gone()) return
  if (slot.phase !== 'disposing' && slot.phase !== 'recycling') {
    slot.phase = 'disposing'
    slot.process.send({ type: 'dispose' })
  }
  await waits.until(gone, DISPOSE_GRACE_MS)
}

import type { LedgerCounts } from '@meshpool/core'
import type { HeadSnapshot, HeadStats } from './head-types.js'
import type { NodeRegistry } from './node-registry.js'
import type { PoolRegistry } from './pool-registry.js'

/** What the head's metrics and dashboard read, at one moment. */
export function headSnapshot(nodes: NodeRegistry, pools: PoolRegistry, counts: LedgerCounts): HeadSnapshot {
  const slots: HeadSnapshot['slots'] = { idle: 0, busy: 0, loading: 0, down: 0, broken: 0 }
  for (const node of nodes.values()) {
    for (let i = 0; i < node.slots; i++) slots[node.slotStates[i] ?? 'idle']++
  }
  const poolLogs = [...pools.values()].map(({ spec, log }) => ({
    poolId: spec.poolId,
    updateSeq: log.seq,
    updateLogBytes: log.bytes,
  }))
  return { counts, nodes: nodes.size, slots, pools: poolLogs }
}

/** The mesh in a few numbers, as `meshpool head` prints them and a pool's stats() reads them. */
export function headStats(nodes: NodeRegistry, pools: PoolRegistry, counts: LedgerCounts): HeadStats {
  return { nodes: nodes.size, workers: nodes.slots, queued: counts.queued, leased: counts.leased, pools: pools.size }
}

/** A node as the share computation sees it. */
export interface ShareNode {
  slots: number
  /** How many of its slots each pool had last time. */
  shares: Map<number, number> | undefined
}

/**
 * Splits the mesh's slots fairly among the pools that have queued jobs: each
 * gets ⌊slots / pools⌋ (the first ones one more), keeping a node's slots on
 * the pools they already hold where it can, so slots rarely switch workers.
 * Returns each node's shares, or undefined for every node when one pool (or
 * none) is waiting: then any node may take any job.
 */
export function fairShares(nodes: ShareNode[], waiting: number[]): Array<Map<number, number> | undefined> {
  if (waiting.length <= 1) return nodes.map(() => undefined)
  const total = nodes.reduce((sum, node) => sum + node.slots, 0)
  const quota = new Map<number, number>()
  waiting.forEach((poolId, i) => {
    quota.set(poolId, Math.floor(total / waiting.length) + (i < total % waiting.length ? 1 : 0))
  })
  const shares = nodes.map(() => new Map<number, number>())
  const left = nodes.map((node) => node.slots)
  const take = (i: number, poolId: number, want: number): void => {
    const n = Math.min(want, quota.get(poolId) ?? 0, left[i] as number)
    if (n <= 0) return
    const share = shares[i] as Map<number, number>
    share.set(poolId, (share.get(poolId) ?? 0) + n)
    quota.set(poolId, (quota.get(poolId) as number) - n)
    left[i] = (left[i] as number) - n
  }
  // Slots stay with the pools they had, then the rest go to pools still short of their quota.
  nodes.forEach((node, i) => {
    for (const [poolId, n] of node.shares ?? []) if (quota.has(poolId)) take(i, poolId, n)
  })
  nodes.forEach((_, i) => {
    for (const poolId of waiting) take(i, poolId, Number.POSITIVE_INFINITY)
  })
  return shares
}

/** A node as the head sees it when it shares out slots. */
export interface SharingNode extends ShareNode {
  silent: boolean
  /** Pools whose worker can't start on the node. */
  unloadable: ReadonlyMap<number, unknown>
}

/**
 * Sets each working node's shares from the pools with queued jobs (see
 * fairShares), so clients with work get fair shares and slots keep their workers.
 */
export function shareSlots(nodes: SharingNode[], pools: number[], queuedCount: (poolId: number) => number): void {
  const waiting = pools.filter((poolId) => queuedCount(poolId) > 0)
  const working = nodes.filter((node) => node.slots > 0 && !node.silent)
  if (waiting.length <= 1) {
    for (const node of working) node.shares = undefined
    return
  }
  const shares = fairShares(working, waiting)
  working.forEach((node, i) => {
    node.shares = shares[i]
  })
}

/** Whether a node may be leased a pool's jobs: its share, or any pool once its own have nothing queued. */
export function mayRun(node: SharingNode, poolId: number, queuedCount: (poolId: number) => number): boolean {
  if (node.unloadable.has(poolId)) return false
  if (node.shares === undefined || node.shares.has(poolId)) return true
  for (const own of node.shares.keys()) {
    if (!node.unloadable.has(own) && queuedCount(own) > 0) return false
  }
  return true
}

/**
 * How far (in slot-ms per unit of weight) a pool that holds a slot may run
 * ahead of one that waits before the slot moves to the other. A slot changes
 * pools only at a job boundary and at most about once per turn, so a worker
 * load is paid once per turn, not once per job.
 */
export const TURN_MS = 100

/** A pool's weight in the fair shares: each step of priority doubles it (priority 0: weight 1). */
export function weightOf(priority: number): number {
  return 2 ** priority
}

/** A node as the share computation sees it: the pools whose worker can't start there. */
export interface ShareNode {
  readonly unloadable: ReadonlyMap<number, unknown>
}

interface PoolShare {
  readonly id: number
  readonly weight: number
  /** Slot-ms it was given, over its weight: the pool furthest behind is served next (virtual time). */
  vt: number
  /** When vt was last brought up to date. */
  at: number
  /** Slots it has, over all nodes. */
  held: number
  /** It has jobs queued. */
  waiting: boolean
}

interface NodeShare {
  slots: number
  /** How many of its slots each pool has. */
  readonly byPool: Map<number, number>
  assigned: number
  /** Jobs that ended on the node since it was last looked at (its pulls): the moments a slot may change pools. */
  boundaries: number
}

/** A pool that could take a slot, and how badly it needs it: 0, short of its whole share; 1, of the share rounded up. */
interface Candidate {
  pool: PoolShare
  tier: number
}

export interface FairSharesInit {
  now: () => number
  queuedCount: (poolId: number) => number
  /** @default TURN_MS */
  turnMs?: number
}

/**
 * Shares the mesh's slots among the pools with queued jobs, in proportion to
 * their weights, as a fair queuing scheduler does: each pool's share is
 * `slots × weight / the waiting pools' weights`. A pool keeps its whole slots
 * (slots rarely switch workers); what does not divide goes, slot by slot, to
 * the pool furthest behind in virtual time (the slot-time it had, over its
 * weight), and moves on once that pool is a turn ahead of another, so every
 * waiting pool gets its share over time and none starves. Slots change pools
 * only when the node pulls, that is, when jobs ended there. Each decision
 * looks at one node and the pools, never at the other nodes.
 */
export class FairShares {
  readonly #init: FairSharesInit
  readonly #turn: number
  readonly #pools = new Map<number, PoolShare>()
  readonly #nodes = new Map<ShareNode, NodeShare>()
  /** Working slots of the mesh, and the summed weight of the waiting pools. */
  #slots = 0
  #waitingWeight = 0

  constructor(init: FairSharesInit) {
    this.#init = init
    this.#turn = init.turnMs ?? TURN_MS
  }

  addPool(poolId: number, weight = 1): void {
    if (this.#pools.has(poolId)) return
    this.#pools.set(poolId, { id: poolId, weight, vt: 0, at: this.#init.now(), held: 0, waiting: false })
  }

  /** A pool closed: its slots are free; each node lets go of them when it is next looked at. */
  removePool(poolId: number): void {
    const pool = this.#pools.get(poolId)
    if (pool === undefined) return
    if (pool.waiting) this.#waitingWeight -= pool.weight
    this.#pools.delete(poolId)
  }

  /** A node's working slots (0: it has none, or it is silent). */
  setSlots(node: ShareNode, slots: number): void {
    let share = this.#nodes.get(node)
    if (share === undefined) {
      share = { slots: 0, byPool: new Map(), assigned: 0, boundaries: 0 }
      this.#nodes.set(node, share)
    }
    this.#slots += slots - share.slots
    share.slots = slots
    for (const [poolId, n] of share.byPool) {
      if (share.assigned <= slots) break
      this.#give(share, poolId, -Math.min(n, share.assigned - slots))
    }
  }

  removeNode(node: ShareNode): void {
    const share = this.#nodes.get(node)
    if (share === undefined) return
    this.setSlots(node, 0)
    this.#nodes.delete(node)
  }

  /** `n` jobs ended on the node (it pulled): as many of its slots may change pools, at most all of them. */
  boundaries(node: ShareNode, n: number): void {
    const share = this.#nodes.get(node)
    if (share !== undefined) share.boundaries = Math.min(share.slots, share.boundaries + n)
  }

  /** Which pools wait: a pool that starts waiting again is not owed the time it had nothing queued. */
  refresh(): void {
    for (const pool of this.#pools.values()) {
      const waiting = this.#init.queuedCount(pool.id) > 0
      if (waiting === pool.waiting) continue
      if (waiting) {
        const behind = this.#minWaitingVt()
        this.#advance(pool)
        if (behind !== undefined) pool.vt = Math.max(pool.vt, behind)
        this.#waitingWeight += pool.weight
      } else this.#waitingWeight -= pool.weight
      pool.waiting = waiting
    }
  }

  /**
   * Before a node is leased jobs: slots of pools with nothing queued (or that
   * can't start there) are freed, free slots go to the pools that need them
   * most, and at each job boundary since last time a slot may move to a pool
   * that is owed more.
   */
  settle(node: ShareNode): void {
    const share = this.#nodes.get(node)
    if (share === undefined || share.slots === 0) return
    for (const [poolId, n] of share.byPool) {
      const pool = this.#pools.get(poolId)
      if (pool === undefined || !pool.waiting || node.unloadable.has(poolId)) this.#give(share, poolId, -n)
    }
    while (share.assigned < share.slots) {
      const to = this.#neediest(node, share, undefined)
      if (to === undefined) break
      this.#give(share, to.pool.id, 1)
    }
    let turns = share.boundaries
    share.boundaries = 0
    while (turns-- > 0 && this.#rotate(node, share)) {}
  }

  /** Whether a node may be leased a pool's jobs: its share, or any pool once its own have nothing queued. */
  mayRun(node: ShareNode, poolId: number): boolean {
    if (node.unloadable.has(poolId)) return false
    const share = this.#nodes.get(node)
    if (share === undefined || share.assigned === 0 || share.byPool.has(poolId)) return true
    for (const own of share.byPool.keys()) {
      if (!node.unloadable.has(own) && this.#init.queuedCount(own) > 0) return false
    }
    return true
  }

  /** A node's slots per pool. */
  sharesOf(node: ShareNode): ReadonlyMap<number, number> {
    return this.#nodes.get(node)?.byPool ?? new Map()
  }

  /** Moves one slot of the node from the pool most ahead to the one most owed, when that is due. */
  #rotate(node: ShareNode, share: NodeShare): boolean {
    let from: PoolShare | undefined
    for (const poolId of share.byPool.keys()) {
      const pool = this.#pools.get(poolId) as PoolShare
      // A pool keeps the whole slots of its share.
      if (pool.held <= Math.floor(this.#entitled(pool) + 1e-9)) continue
      if (from === undefined || this.#advance(pool) > this.#advance(from)) from = pool
    }
    if (from === undefined) return false
    const to = this.#neediest(node, share, from)
    if (to === undefined || to.tier > 1) return false
    if (to.tier === 1 && this.#advance(from) - this.#advance(to.pool) < this.#turn) return false
    this.#give(share, from.id, -1)
    this.#give(share, to.pool.id, 1)
    return true
  }

  /**
   * The waiting pool (other than `except`) that should have the node's next
   * slot: one short of its whole share first, then one short of its share
   * rounded up, then any; a pool already on the node (fewer workers to load
   * there), then the one furthest behind, then the oldest.
   */
  #neediest(node: ShareNode, share: NodeShare, except: PoolShare | undefined): Candidate | undefined {
    let best: Candidate | undefined
    let bestHere = false
    for (const pool of this.#pools.values()) {
      if (!pool.waiting || pool === except || node.unloadable.has(pool.id)) continue
      const entitled = this.#entitled(pool)
      const tier = pool.held < Math.floor(entitled + 1e-9) ? 0 : pool.held < Math.ceil(entitled - 1e-9) ? 1 : 2
      const here = share.byPool.has(pool.id)
      if (best !== undefined) {
        if (tier !== best.tier) {
          if (tier > best.tier) continue
        } else if (here !== bestHere) {
          if (!here) continue
        } else if (this.#advance(pool) >= this.#advance(best.pool)) continue
      }
      best = { pool, tier }
      bestHere = here
    }
    return best
  }

  /** A waiting pool's share of the mesh's slots (fractional). */
  #entitled(pool: PoolShare): number {
    return this.#waitingWeight > 0 ? (this.#slots * pool.weight) / this.#waitingWeight : 0
  }

  #minWaitingVt(): number | undefined {
    let min: number | undefined
    for (const pool of this.#pools.values()) {
      if (pool.waiting && (min === undefined || this.#advance(pool) < min)) min = this.#advance(pool)
    }
    return min
  }

  /** Brings a pool's virtual time up to now (the slots it held since, over its weight); returns it. */
  #advance(pool: PoolShare): number {
    const now = this.#init.now()
    pool.vt += (pool.held * (now - pool.at)) / pool.weight
    pool.at = now
    return pool.vt
  }

  /** Gives a pool `n` more of the node's slots (negative: takes them). */
  #give(share: NodeShare, poolId: number, n: number): void {
    if (n === 0) return
    const pool = this.#pools.get(poolId)
    if (pool !== undefined) {
      this.#advance(pool)
      pool.held += n
    }
    const left = (share.byPool.get(poolId) ?? 0) + n
    if (left > 0) share.byPool.set(poolId, left)
    else share.byPool.delete(poolId)
    share.assigned += n
  }
}

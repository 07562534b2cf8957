import type { Logger } from '@libp2p/interface'
import type { HeadToNodeMessage, NodeMessage, UpdateEntry } from '@meshpool/core'
import type { NodePools, PoolState } from './node-pools.js'
import type { Slot } from './slot.js'

type CaughtUp = Extract<HeadToNodeMessage, { type: 'updates' }>

export interface UpdateSyncInit {
  pools: NodePools
  slots: readonly Slot[]
  /** The head, asked for the updates this node missed. */
  head: { send(message: NodeMessage): void; readonly connection: object | undefined }
  /** New updates may let waiting jobs run (they wait for the updates they were leased after). */
  pump: () => void
  log: Logger
}

/**
 * A node's side of its pools' updates: it takes them in order per pool (from
 * gossip, from the head, as blobs), catches up from the head on a gap or on
 * news of updates it lacks, and passes new ones on to the slots holding the
 * pool's worker, which apply them between jobs.
 */
export class UpdateSync {
  readonly #pools: NodePools
  readonly #slots: readonly Slot[]
  readonly #head: UpdateSyncInit['head']
  readonly #pump: () => void
  readonly #log: Logger

  constructor(init: UpdateSyncInit) {
    this.#pools = init.pools
    this.#slots = init.slots
    this.#head = init.head
    this.#pump = init.pump
    this.#log = init.log
  }

  /** Takes updates heard on gossip (or from the head directly). */
  take(entries: UpdateEntry[]): void {
    const touched = new Set<number>()
    for (const entry of entries) {
      const pool = this.#pools.get(entry.poolId)
      if (pool === undefined) continue // learnt with the pool's first lease, through catch-up
      const taken = pool.updates.accept(entry)
      if (taken === 'old') continue
      if (taken === 'gap') this.catchUp(pool)
      touched.add(entry.poolId)
    }
    if (touched.size === 0) return
    for (const slot of this.#slots) {
      if (slot.poolId !== undefined && touched.has(slot.poolId) && slot.phase !== 'loading') slot.sendUpdates()
    }
    this.#pump()
  }

  /** Updates too big for gossip were logged (or gossip missed some): fetch those this node lacks from the head now. */
  announced(announced: Array<{ poolId: number; seq: number }>): void {
    for (const { poolId, seq } of announced) {
      const pool = this.#pools.get(poolId)
      if (pool === undefined) continue
      pool.updates.wanted = Math.max(pool.updates.wanted, seq)
      if (pool.updates.known < seq && !pool.updates.allComing(seq)) this.catchUp(pool)
    }
  }

  /** The head's answer to a catch-up. */
  caughtUp(message: CaughtUp): void {
    for (const pool of this.#pools.values()) pool.updates.catchingUp = false
    if (message.dropped !== undefined) {
      const pool = this.#pools.get(message.dropped.poolId)
      pool?.updates.skipTo(message.dropped.through)
      if (pool !== undefined)
        this.#log('pool %d: updates up to %d are past the log budget', pool.spec.poolId, message.dropped.through)
    }
    this.take(message.entries)
    // Heard of more while that catch-up was out: fetch the rest.
    for (const pool of this.#pools.values()) if (pool.updates.known < pool.updates.wanted) this.catchUp(pool)
    this.#pump()
  }

  /** A big update is being fetched as a blob (or no longer is): catch-ups meanwhile leave it out. */
  blobComing(poolId: number, seq: number, coming: boolean): void {
    const updates = this.#pools.get(poolId)?.updates
    if (coming) updates?.blobsComing.add(seq)
    else updates?.blobsComing.delete(seq)
  }

  /** Asks the head for the pool's updates after the last one held in order (one catch-up at a time). */
  catchUp(pool: PoolState): void {
    if (pool.updates.catchingUp || this.#head.connection === undefined) return
    pool.updates.catchingUp = true
    this.#log('catching up on pool %d updates after %d', pool.spec.poolId, pool.updates.known)
    this.#head.send({ type: 'catchup', poolId: pool.spec.poolId, from: pool.updates.known })
  }
}

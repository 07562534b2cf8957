import { MAX_SHARED_BYTES } from '@meshpool/core'
import { codeHash } from '../net/code-hash.js'

interface Held {
  data: Uint8Array
  /** The pools that shared it and have not unshared it. */
  pools: Set<number>
}

/** What {@link SharedValues.add} made of a share. */
export type ShareOutcome = { hash: string } | { refused: string }

/**
 * The values clients gave `pool.share()`, by hash, for nodes to fetch: each
 * is kept while a pool that shared it holds it (until `unshare` or the pool
 * closes), and all of them together within a byte budget, so no client can
 * fill the head's memory.
 */
export class SharedValues {
  readonly #held = new Map<string, Held>()
  readonly #budget: number
  #bytes = 0

  constructor(budgetBytes = MAX_SHARED_BYTES) {
    this.#budget = budgetBytes
  }

  get bytes(): number {
    return this.#bytes
  }

  /** Bytes of shared values the head may still take. */
  get room(): number {
    return this.#budget - this.#bytes
  }

  /** Why a value of `bytes` is refused. */
  refusal(bytes: number): string {
    return `the head holds ${mib(this.#bytes)} of shared values, and this one (${mib(bytes)}) would pass its limit of ${mib(this.#budget)}: unshare values the pool no longer needs (pool.unshare(ref)) first`
  }

  get(hash: string): Uint8Array | undefined {
    return this.#held.get(hash)?.data
  }

  /** A pool shares a value (its encoded bytes); the same bytes shared twice are kept once. */
  add(poolId: number, data: Uint8Array): ShareOutcome {
    const hash = codeHash(data)
    const held = this.#held.get(hash)
    if (held !== undefined) {
      held.pools.add(poolId)
      return { hash }
    }
    if (data.byteLength > this.room) return { refused: this.refusal(data.byteLength) }
    this.#held.set(hash, { data, pools: new Set([poolId]) })
    this.#bytes += data.byteLength
    return { hash }
  }

  /** A pool lets go of some values; returns those no pool holds any more (now gone). */
  drop(poolId: number, hashes: Iterable<string>): string[] {
    const freed: string[] = []
    for (const hash of hashes) {
      const held = this.#held.get(hash)
      if (held === undefined || !held.pools.delete(poolId) || held.pools.size > 0) continue
      this.#held.delete(hash)
      this.#bytes -= held.data.byteLength
      freed.push(hash)
    }
    return freed
  }

  /** A pool closed: it holds none of its values any more; returns those now gone. */
  poolClosed(poolId: number): string[] {
    const mine = [...this.#held].filter(([, held]) => held.pools.has(poolId)).map(([hash]) => hash)
    return this.drop(poolId, mine)
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

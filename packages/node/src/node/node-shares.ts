import { SharedValueError } from '@meshpool/core'

/** Where a node gets a shared value's bytes it has not got: checked against the hash, and put on `shelf` on the way. */
export type FetchShared = (hash: string, shelf: SharedShelf) => Promise<Uint8Array>

/** Keeps a fetched value (to serve other nodes once it is whole and checked). */
export interface SharedShelf {
  get(hash: string): Uint8Array | undefined
  put(hash: string, data: Uint8Array): void
}

interface Held {
  data: Uint8Array
  /** The node's pools whose jobs asked for it. */
  pools: Set<number>
}

/**
 * The shared values (`pool.share`) a node holds, by hash: each fetched once
 * however many of its slots and jobs want it at once, kept while a pool that
 * used it is open here and the head has not said it is gone, and served to
 * other nodes from here (see serveBlobs).
 */
export class NodeShares implements SharedShelf {
  readonly #held = new Map<string, Held>()
  readonly #fetching = new Map<string, Promise<Uint8Array>>()
  readonly #fetch: FetchShared

  constructor(fetch: FetchShared) {
    this.#fetch = fetch
  }

  get(hash: string): Uint8Array | undefined {
    return this.#held.get(hash)?.data
  }

  put(hash: string, data: Uint8Array): void {
    if (!this.#held.has(hash)) this.#held.set(hash, { data, pools: new Set() })
  }

  /** The bytes of a shared value a job of `poolId` refers to: held, or fetched now. */
  async value(poolId: number, hash: string): Promise<Uint8Array> {
    const held = this.#held.get(hash)
    if (held !== undefined) {
      held.pools.add(poolId)
      return held.data
    }
    let fetching = this.#fetching.get(hash)
    if (fetching === undefined) {
      fetching = this.#fetch(hash, this).finally(() => this.#fetching.delete(hash))
      this.#fetching.set(hash, fetching)
    }
    let data: Uint8Array
    try {
      data = await fetching
    } catch (err) {
      throw new SharedValueError(
        `the shared value ${hash.slice(0, 12)}… could not be fetched (${(err as Error).message}): was it unshared, or its pool closed, before this job ran?`,
      )
    }
    this.put(hash, data)
    this.#held.get(hash)?.pools.add(poolId)
    return data
  }

  /** The head says no pool holds these any more. */
  drop(hashes: Iterable<string>): void {
    for (const hash of hashes) this.#held.delete(hash)
  }

  /** A pool closed here: the values only it used go. */
  poolClosed(poolId: number): string[] {
    const gone: string[] = []
    for (const [hash, held] of this.#held) {
      if (!held.pools.delete(poolId) || held.pools.size > 0) continue
      this.#held.delete(hash)
      gone.push(hash)
    }
    return gone
  }
}

/** The fetch of a node that has no head to fetch from over the network (tests, or values it must be given). */
export const noSharedSource: FetchShared = async (hash) => {
  throw new Error(`no source of shared value ${hash.slice(0, 12)}…`)
}

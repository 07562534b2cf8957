import type { ClientMessage } from '@meshpool/core'
import { NodeShares } from '../node/node-shares.js'
import type { HeadService } from './head-service.js'
import type { PoolSession } from './head-types.js'
import type { PoolReach } from './pool-reach.js'
import { SharedValues } from './shared-values.js'
import { SharesComing } from './shares-coming.js'

export interface HeadSharesInit {
  /** Which nodes were given each pool: they hear when a value they may hold is gone. */
  reach: PoolReach
  /** @default MAX_SHARED_BYTES */
  budgetBytes: number | undefined
  /** A value is held now (its bytes) or gone (undefined): for the blob server nodes fetch from. */
  onShared: (hash: string, data: Uint8Array | undefined) => void
}

/**
 * The head's side of `pool.share`: values coming in (in parts when big, see
 * {@link SharesComing}), kept by hash within the budget ({@link SharedValues}),
 * and freed on `unshare` or when their last pool closes, with the nodes told.
 */
export class HeadShares {
  readonly #values: SharedValues
  readonly #coming = new SharesComing()
  readonly #init: HeadSharesInit

  constructor(init: HeadSharesInit) {
    this.#init = init
    this.#values = new SharedValues(init.budgetBytes)
  }

  get(hash: string): Uint8Array | undefined {
    return this.#values.get(hash)
  }

  handle(pool: PoolSession, message: Extract<ClientMessage, { type: 'share' | 'unshare' }>): void {
    if (message.type === 'unshare') this.#unshare(pool, message.hashes)
    else this.#shareIn(pool, message)
  }

  /** A pool closed: what it was sending is dropped, and the values only it held go (its nodes drop theirs as they hear it closed). */
  poolClosed(poolId: number): void {
    this.#coming.drop(poolId)
    for (const hash of this.#values.poolClosed(poolId)) this.#init.onShared(hash, undefined)
  }

  #shareIn(pool: PoolSession, message: Extract<ClientMessage, { type: 'share' }>): void {
    let arrival: ReturnType<SharesComing['take']>
    try {
      arrival = this.#coming.take(pool.spec.poolId, message, this.#values.room)
    } catch (err) {
      pool.channel.close(err as Error)
      return
    }
    if (arrival === undefined) return
    if ('whole' in arrival) this.#share(pool, message.reqId, arrival.whole)
    else
      pool.channel.send({ type: 'shared', reqId: message.reqId, refused: this.#values.refusal(arrival.refusedBytes) })
  }

  #share(pool: PoolSession, reqId: number, value: Uint8Array): void {
    const outcome = this.#values.add(pool.spec.poolId, value)
    if ('hash' in outcome) this.#init.onShared(outcome.hash, this.#values.get(outcome.hash))
    pool.channel.send({ type: 'shared', reqId, ...outcome })
  }

  /** Values no pool holds any more are gone here, and from the nodes that were given this pool. */
  #unshare(pool: PoolSession, hashes: string[]): void {
    const freed = this.#values.drop(pool.spec.poolId, hashes)
    if (freed.length === 0) return
    for (const hash of freed) this.#init.onShared(hash, undefined)
    for (const node of this.#init.reach.givenTo(pool.spec.poolId))
      node.channel.send({ type: 'cancel', jobIds: [], unshared: freed })
  }
}

/** The shared values of a node agent in the head's own process: taken from the head itself, never copied. */
export function localShares(head: HeadService): NodeShares {
  return new NodeShares(async (hash) => {
    const data = head.sharedValue(hash)
    if (data === undefined) throw new Error('the head holds no value by that hash')
    return data
  })
}

import type { Logger } from '@libp2p/interface'
import { type NodeMessage, type PoolSpec, WorkerLoadError } from '@meshpool/core'
import { PoolUpdates } from './pool-updates.js'
import type { CodeWaiter } from './slot-types.js'

/** Failed fetches of a pool's shipped code in a row before the pool counts as unable to start here. */
const MAX_FETCH_FAILURES = 3
/** Until a pool's jobs have been timed, assume this. */
const FIRST_GUESS_MS = 10

/** What a node keeps of one pool it was given. */
export interface PoolState {
  spec: PoolSpec
  /** Where slots import the worker from (shipped code: once fetched). */
  module: Promise<string>
  updates: PoolUpdates
  loadError: Error | undefined
  /** The head connection told of loadError: a node that reconnects tells the new one too. */
  loadErrorToldOn: object | undefined
  /** Fetches of the shipped code that failed in a row (a dropped connection); a few are retried. */
  fetchFailures: number
  /** Moving average of run() time, to size batches. */
  avgMs: number
  /** Its client is gone: slots dispose of its worker as soon as they are idle, and it is forgotten then. */
  closed: boolean
}

export interface NodePoolsInit {
  /** Where a slot imports a pool's worker from (shipped code is fetched and cached first). */
  modulePath: (spec: PoolSpec) => Promise<string>
  /** The head, as far as pools are concerned: told of a pool that can't start here, once per connection. */
  head: { send(message: NodeMessage): void; readonly connection: object | undefined }
  /** A note for the node's own log. */
  notice: (text: string) => void
  log: Logger
}

/**
 * The pools a node was given (it learns of one with its first lease): their
 * specs, their shipped code (fetched again after a dropped connection, a few
 * times), their update logs, and whether their worker can start here at all.
 */
export class NodePools {
  readonly #pools = new Map<number, PoolState>()
  readonly #modulePath: (spec: PoolSpec) => Promise<string>
  readonly #head: NodePoolsInit['head']
  readonly #notice: (text: string) => void
  readonly #log: Logger

  constructor(init: NodePoolsInit) {
    this.#modulePath = init.modulePath
    this.#head = init.head
    this.#notice = init.notice
    this.#log = init.log
  }

  /** Takes a pool the head named; says whether it is new here (its code is then being fetched). */
  add(spec: PoolSpec): boolean {
    if (this.#pools.has(spec.poolId)) return false
    this.#pools.set(spec.poolId, {
      spec,
      module: this.#fetch(spec),
      updates: new PoolUpdates(),
      loadError: undefined,
      loadErrorToldOn: undefined,
      fetchFailures: 0,
      avgMs: FIRST_GUESS_MS,
      closed: false,
    })
    return true
  }

  get(poolId: number): PoolState | undefined {
    return this.#pools.get(poolId)
  }

  has(poolId: number): boolean {
    return this.#pools.has(poolId)
  }

  values(): IterableIterator<PoolState> {
    return this.#pools.values()
  }

  /** The shortest lease of any pool held (heartbeats go out at a fraction of it); infinite with none. */
  shortestLeaseMs(): number {
    let leaseMs = Number.POSITIVE_INFINITY
    for (const pool of this.#pools.values()) leaseMs = Math.min(leaseMs, pool.spec.leaseMs)
    return leaseMs
  }

  /**
   * The pool's code, for a slot that loads its worker: `ready` once it is
   * here. A failed fetch (most likely the connection dropped) is tried again
   * for the next job (`retry`), until MAX_FETCH_FAILURES in a row (`failed`).
   * A slot that no longer `wanted` the code by then is told nothing.
   */
  codeFor(pool: PoolState, wanted: () => boolean, to: CodeWaiter): void {
    pool.module.then(
      (url) => {
        pool.fetchFailures = 0
        if (wanted()) to.ready(url)
      },
      (err: Error) => {
        if (!wanted()) return
        const error = new WorkerLoadError(`can't fetch the shipped worker ${pool.spec.worker}: ${err.message}`)
        if (++pool.fetchFailures >= MAX_FETCH_FAILURES) return to.failed(error.message)
        this.#log('%s; trying again', error.message)
        pool.module = this.#fetch(pool.spec)
        to.retry()
      },
    )
  }

  /** A job of the pool took `ms` in run(): the batches its slots get follow the average. */
  ran(pool: PoolState, ms: number): void {
    pool.avgMs += (ms - pool.avgMs) * 0.2
  }

  /** The pool's worker failed to load: the head leases it no more here and its jobs go elsewhere. */
  cannotStart(poolId: number, message: string): void {
    const pool = this.#pools.get(poolId)
    if (pool === undefined || pool.loadError !== undefined) return
    pool.loadError = new WorkerLoadError(message)
    this.#notice(`pool ${pool.spec.poolId} (${pool.spec.worker}) can't start here: ${message}`)
    this.tellUnloadable(pool)
  }

  /** Tells the head (once per connection) that a pool can't start here, so it leases the pool's jobs elsewhere. */
  tellUnloadable(pool: PoolState): void {
    const connection = this.#head.connection
    if (pool.loadError === undefined || connection === undefined || pool.loadErrorToldOn === connection) return
    pool.loadErrorToldOn = connection
    this.#head.send({
      type: 'loadFailed',
      poolId: pool.spec.poolId,
      error: { name: WorkerLoadError.name, message: pool.loadError.message },
    })
  }

  /** The pool's client is gone; says whether this node had the pool. */
  close(poolId: number): boolean {
    const pool = this.#pools.get(poolId)
    if (pool === undefined) return false
    pool.closed = true
    return true
  }

  /** Forgets closed pools that no slot holds any more (their spec, their updates). */
  forgetClosed(held: (poolId: number) => boolean): void {
    for (const [poolId, pool] of this.#pools) if (pool.closed && !held(poolId)) this.#pools.delete(poolId)
  }

  #fetch(spec: PoolSpec): Promise<string> {
    const module = this.#modulePath(spec)
    module.catch(() => {}) // reported when a slot loads the pool
    return module
  }
}

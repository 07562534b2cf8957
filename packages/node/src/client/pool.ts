import {
  DEFAULT_WINDOW,
  decodeValue,
  encodeValue,
  InvalidOptionError,
  type NodeInfo,
  PoolClosedError,
  SharedRef,
} from '@meshpool/core'
import { checkPeerId } from '../net/peer-id.js'
import type { ParamsOf, ResultOf, UpdateOf, WithShared, WorkerClass } from '../worker-types.js'
import {
  type CallOptions,
  checkCallOptions,
  checkLaunchKeys,
  type MapOptions,
  type Settled,
  type SettleOptions,
} from './call-options.js'
import { abortError, InputRun } from './input-run.js'
import { type Inputs, toAsyncIterator } from './inputs.js'
import type { LaunchedWorker, LaunchOptions } from './launch.js'
import { LaunchedNodes, type Launcher } from './launched-nodes.js'
import type { PoolClient } from './pool-client.js'
import { ProgressWatch } from './progress.js'

export type { Launcher } from './launched-nodes.js'

/** A node of the mesh as `listWorkers()` gives it. */
export interface WorkerInfo extends NodeInfo {
  /** This pool started it with launchWorkers. */
  launched: boolean
}

/**
 * A pool of workers on a mesh: run a worker class over many inputs.
 * Create one with {@link createPool}.
 */
export class Pool<W extends WorkerClass = WorkerClass> {
  readonly #client: PoolClient
  /** The pool's window for its calls; undefined: the default, which grows (see InputRun). */
  readonly #window: number | undefined
  readonly #launched: LaunchedNodes
  readonly #adminKey: () => string | undefined
  readonly #timeoutMs: number
  readonly #cleanup: () => Promise<void>
  #closing: Promise<void> | undefined
  readonly #progress: ProgressWatch

  /** @internal */
  constructor(
    client: PoolClient,
    options: {
      window: number | undefined
      timeoutMs: number
      launcher?: Launcher
      adminKey?: () => string | undefined
    },
    cleanup: () => Promise<void>,
  ) {
    this.#client = client
    this.#window = options.window
    this.#timeoutMs = options.timeoutMs
    this.#cleanup = cleanup
    this.#launched = new LaunchedNodes(options.launcher)
    this.#adminKey = options.adminKey ?? (() => undefined)
    this.#progress = new ProgressWatch((on) => client.watch(on))
    client.onProgress = (id, fraction) => this.#progress.progress(id, fraction)
  }

  /** Runs one job; resolves with its result. */
  async submit(params: WithShared<ParamsOf<W>>, options: CallOptions = {}): Promise<ResultOf<W>> {
    this.#checkOpen()
    checkCallOptions(options, 'submit')
    const { signal } = options
    if (signal?.aborted === true) throw abortError(signal)
    const { id, result } = this.#client.submit(encodeValue(params, 'params'), options.timeoutMs ?? this.#timeoutMs)
    if (signal === undefined) return decodeValue<ResultOf<W>>(await result)
    let onAbort: (() => void) | undefined
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        this.#client.cancel([id])
        reject(abortError(signal))
      }
      signal.addEventListener('abort', onAbort, { once: true })
    })
    try {
      return decodeValue<ResultOf<W>>(await Promise.race([result, aborted]))
    } finally {
      signal.removeEventListener('abort', onAbort as () => void)
    }
  }

  /**
   * Runs every input; resolves with the results in input order. Rejects with the
   * first error and cancels the rest; with `{ settle: true }`, resolves with each
   * job's outcome instead (`{ ok: true, value }` or `{ ok: false, error }`).
   */
  map(inputs: Inputs<WithShared<ParamsOf<W>>>, options: SettleOptions): Promise<Array<Settled<ResultOf<W>>>>
  /** Runs every input; resolves with the results in input order. Rejects with the first error and cancels the rest. */
  map(inputs: Inputs<WithShared<ParamsOf<W>>>, options?: MapOptions & { settle?: false }): Promise<Array<ResultOf<W>>>
  async map(
    inputs: Inputs<WithShared<ParamsOf<W>>>,
    options: MapOptions = {},
  ): Promise<Array<ResultOf<W> | Settled<ResultOf<W>>>> {
    const settle = options?.settle === true
    const results: Array<ResultOf<W> | Settled<ResultOf<W>>> = []
    for await (const outcome of this.#run(inputs, options, 'map')) {
      results[outcome.index] = settle ? outcome : (outcome as { value: ResultOf<W> }).value
    }
    return results
  }

  /**
   * Yields results in completion order, reading the inputs lazily with a bounded
   * window. With `{ settle: true }`, yields each job's outcome instead, and a
   * failed job does not end the loop.
   */
  imapUnordered(inputs: Inputs<WithShared<ParamsOf<W>>>, options: SettleOptions): AsyncGenerator<Settled<ResultOf<W>>>
  /** Yields results in completion order, reading the inputs lazily with a bounded window; the first failed job ends it. */
  imapUnordered(
    inputs: Inputs<WithShared<ParamsOf<W>>>,
    options?: MapOptions & { settle?: false },
  ): AsyncGenerator<ResultOf<W>>
  async *imapUnordered(
    inputs: Inputs<WithShared<ParamsOf<W>>>,
    options: MapOptions = {},
  ): AsyncGenerator<ResultOf<W> | Settled<ResultOf<W>>> {
    const settle = options?.settle === true
    for await (const outcome of this.#run(inputs, options, 'imapUnordered')) {
      yield settle ? outcome : (outcome as { value: ResultOf<W> }).value
    }
  }

  /** Broadcasts a cache update to every slot of this pool, applied between jobs. Resolves once the head has logged it. */
  async updateWorkers(update: UpdateOf<W>): Promise<number> {
    this.#checkOpen()
    return this.#client.update(encodeValue(update, 'the update'))
  }

  /**
   * Sends a value once, for many jobs to refer to: put the handle anywhere in
   * their params, and `run()` sees the value itself there. Each node fetches it
   * once (from the head or from nodes that have it), not once per job, and
   * keeps it until `unshare(ref)` or the pool closes. Resolves once the head
   * holds it. Like Ray's `ray.put` or Dask's `scatter(broadcast=True)`.
   */
  async share<T>(value: T): Promise<SharedRef<T>> {
    this.#checkOpen()
    const bytes = encodeValue(value, 'the shared value')
    const hash = await this.#client.share(bytes)
    return new SharedRef<T>(hash, bytes.byteLength)
  }

  /** Frees a shared value on the head and on every node; jobs submitted after that may no longer refer to it. */
  async unshare(ref: SharedRef): Promise<void> {
    this.#checkOpen()
    if (!(ref instanceof SharedRef)) {
      throw new InvalidOptionError('unshare takes a handle that pool.share() returned')
    }
    this.#client.unshare(ref.hash)
  }

  /** Working slots in the mesh (the embedded or head's own local slots count; broken ones don't). */
  async workersCount(): Promise<number> {
    this.#checkOpen()
    return (await this.#client.stats()).slots
  }

  /**
   * Revokes a node by its peer id: the head disconnects it (its jobs go back to the
   * queue) and refuses it from then on, across restarts, without a new password.
   * Resolves with whether that peer had ever joined this head. Needs the head's
   * admin key (createPool's `adminKeyFile`); else it rejects with AdminRefusedError.
   */
  async revoke(peerId: string): Promise<boolean> {
    this.#checkOpen()
    checkPeerId(peerId, 'revoke')
    return this.#client.revoke(peerId, this.#adminKey())
  }

  /**
   * Starts `n` node processes on this machine, joined to this pool's head (`cpu`
   * slots each, or one per GPU of `gpus`; `memory`: a V8 heap limit per slot process,
   * in MB), or with `script` / `code` that program instead, with MESHPOOL_HEAD and
   * MESHPOOL_HEAD_IP in its environment. They end when the pool closes. Needs a pool
   * with a `head` (an embedded head has no address to join).
   */
  async launchWorkers(options: LaunchOptions): Promise<LaunchedWorker[]> {
    this.#checkOpen()
    checkLaunchKeys(options)
    return this.#launched.launch(options)
  }

  /**
   * Every node of the mesh: its peer id, name, addresses, slots (with their GPU and
   * what each is doing), jobs done and failed, when it joined and last renewed its
   * leases, and whether this pool launched it.
   */
  async listWorkers(): Promise<WorkerInfo[]> {
    this.#checkOpen()
    const nodes = await this.#client.nodes()
    return nodes.map((node) => ({ ...node, launched: this.#launched.has(node.nodeId) }))
  }

  /**
   * Stops nodes gracefully: each finishes its running jobs (up to its drain timeout),
   * gives back the rest, and leaves. With no ids, every node this pool launched.
   * Resolves with the ids of the nodes that were there to stop. The nodes this
   * pool launched it stops itself (a signal to their process); any other node
   * needs the head's admin key (createPool's `adminKeyFile`), else AdminRefusedError.
   */
  async stopWorkers(...nodeIds: string[]): Promise<string[]> {
    this.#checkOpen()
    for (const id of nodeIds) checkPeerId(id, 'stopWorkers')
    return this.#launched.stop(nodeIds, (others) => this.#client.stopNodes(others, this.#adminKey()))
  }

  /** Nodes joined to the head (a head with local slots counts as one). */
  async nodesCount(): Promise<number> {
    this.#checkOpen()
    return (await this.#client.stats()).nodes
  }

  /** Closes the pool: open calls reject with PoolClosedError, connections and local slots stop. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#client.close()
      await this.#launched.stopAll()
      await this.#cleanup()
    })()
    return this.#closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /** A call after close() is refused plainly (not as "closed before this call finished"). */
  #checkOpen(): void {
    if (this.#closing !== undefined) {
      throw new PoolClosedError(
        'the pool is closed: this call came after pool.close(); create a new pool to run more jobs',
      )
    }
  }

  /** Runs the inputs through the pool, yielding each job's outcome with its input index as results arrive (see InputRun). */
  async *#run(
    inputs: Inputs<WithShared<ParamsOf<W>>>,
    options: MapOptions,
    call: 'map' | 'imapUnordered',
  ): AsyncGenerator<Settled<ResultOf<W>>> {
    this.#checkOpen()
    checkCallOptions(options, call)
    const { signal } = options
    if (signal?.aborted === true) throw abortError(signal)
    const iterator = toAsyncIterator(inputs)
    const run = new InputRun<WithShared<ParamsOf<W>>, ResultOf<W>>({
      client: this.#client,
      inputs: iterator,
      window: options.window ?? this.#window ?? DEFAULT_WINDOW,
      grows: (options.window ?? this.#window) === undefined,
      timeoutMs: options.timeoutMs ?? this.#timeoutMs,
      settle: options.settle === true,
      signal,
      progress: this.#progress,
      tracker: this.#progress.track(options.onProgress, Array.isArray(inputs) ? inputs.length : undefined),
    })
    yield* run.outcomes()
  }
}

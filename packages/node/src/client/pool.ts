import {
  AbortError,
  decodeValue,
  encodeValue,
  InvalidOptionError,
  type NodeInfo,
  PoolClosedError,
  WorkerLoadError,
} from '@meshpool/core'
import { checkPeerId } from '../net/peer-id.js'
import type { ParamsOf, ResultOf, UpdateOf, WorkerClass } from '../worker-types.js'
import {
  type CallOptions,
  checkCallOptions,
  checkLaunchKeys,
  type MapOptions,
  type Settled,
  type SettleOptions,
} from './call-options.js'
import { type Inputs, toAsyncIterator } from './inputs.js'
import type { LaunchedWorker, LaunchHandle, LaunchOptions } from './launch.js'
import type { PoolClient } from './pool-client.js'
import { ProgressTracker } from './progress.js'

/** Starts processes for launchWorkers (see launch). */
export type Launcher = (options: LaunchOptions) => Promise<LaunchHandle[]>

/** A node of the mesh as `listWorkers()` gives it. */
export interface WorkerInfo extends NodeInfo {
  /** This pool started it with launchWorkers. */
  launched: boolean
}

/** Read through a function so TypeScript doesn't keep an earlier narrowing of `aborted`. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

/**
 * Errors that are not one job's failure but the whole call's: a settled call
 * rejects with them too (the pool closed, no node can load the worker).
 */
function endsTheCall(error: Error): boolean {
  return error instanceof PoolClosedError || error instanceof WorkerLoadError || error instanceof AbortError
}

function abortError(signal: AbortSignal): AbortError {
  const reason = signal.reason as unknown
  if (reason instanceof AbortError) return reason
  const detail = reason instanceof Error && reason.name !== 'AbortError' ? `: ${reason.message}` : ''
  return new AbortError(`the call was aborted by its signal${detail}`)
}

/**
 * A pool of workers on a mesh: run a worker class over many inputs.
 * Create one with {@link createPool}.
 */
export class Pool<W extends WorkerClass = WorkerClass> {
  readonly #client: PoolClient
  readonly #window: number
  /** Peer ids of the nodes this pool launched (see launchWorkers). */
  readonly #launched = new Set<string>()
  readonly #launchedProcesses: LaunchHandle[] = []
  readonly #launcher: Launcher | undefined
  readonly #adminKey: () => string | undefined
  readonly #timeoutMs: number
  readonly #cleanup: () => Promise<void>
  #closing: Promise<void> | undefined
  /** The tracker of each open job whose call watches its progress. */
  readonly #trackers = new Map<number, ProgressTracker>()
  #watchers = 0

  /** @internal */
  constructor(
    client: PoolClient,
    options: { window: number; timeoutMs: number; launcher?: Launcher; adminKey?: () => string | undefined },
    cleanup: () => Promise<void>,
  ) {
    this.#client = client
    this.#window = options.window
    this.#timeoutMs = options.timeoutMs
    this.#cleanup = cleanup
    this.#launcher = options.launcher
    this.#adminKey = options.adminKey ?? (() => undefined)
    client.onProgress = (id, fraction) => this.#trackers.get(id)?.progress(id, fraction)
  }

  /** Runs one job; resolves with its result. */
  async submit(params: ParamsOf<W>, options: CallOptions = {}): Promise<ResultOf<W>> {
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
  map(inputs: Inputs<ParamsOf<W>>, options: SettleOptions): Promise<Array<Settled<ResultOf<W>>>>
  /** Runs every input; resolves with the results in input order. Rejects with the first error and cancels the rest. */
  map(inputs: Inputs<ParamsOf<W>>, options?: MapOptions & { settle?: false }): Promise<Array<ResultOf<W>>>
  async map(inputs: Inputs<ParamsOf<W>>, options: MapOptions = {}): Promise<Array<ResultOf<W> | Settled<ResultOf<W>>>> {
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
  imapUnordered(inputs: Inputs<ParamsOf<W>>, options: SettleOptions): AsyncGenerator<Settled<ResultOf<W>>>
  /** Yields results in completion order, reading the inputs lazily with a bounded window; the first failed job ends it. */
  imapUnordered(inputs: Inputs<ParamsOf<W>>, options?: MapOptions & { settle?: false }): AsyncGenerator<ResultOf<W>>
  async *imapUnordered(
    inputs: Inputs<ParamsOf<W>>,
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

  /** Working slots in the mesh (the embedded or head's own local slots count; broken ones don't). */
  async workersCount(): Promise<number> {
    this.#checkOpen()
    return (await this.#client.stats()).workers
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
    if (this.#launcher === undefined) {
      throw new InvalidOptionError(
        'launchWorkers needs a pool with a head: start `meshpool head` and pass its address as { head }',
      )
    }
    const started = await this.#launcher(options)
    for (const handle of started) {
      this.#launchedProcesses.push(handle)
      if (handle.nodeId !== undefined) this.#launched.add(handle.nodeId)
    }
    return started.map(({ kind, pid, nodeId, exited }) => ({
      kind,
      pid,
      exited,
      ...(nodeId === undefined ? {} : { nodeId }),
    }))
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
    const ids = nodeIds.length > 0 ? nodeIds : [...this.#launched]
    const own = this.#launchedProcesses.filter((h) => h.nodeId !== undefined && ids.includes(h.nodeId))
    const ownIds = new Set(own.map((h) => h.nodeId))
    const others = ids.filter((id) => !ownIds.has(id))
    const stopped = others.length === 0 ? [] : await this.#client.stopNodes(others, this.#adminKey())
    const leaving = own.filter((h) => this.#launched.delete(h.nodeId as string))
    for (const handle of leaving) void handle.stop() // SIGTERM: the node drains and leaves
    return ids.filter((id) => stopped.includes(id) || leaving.some((h) => h.nodeId === id))
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
      await Promise.all(this.#launchedProcesses.map((handle) => handle.stop()))
      await this.#cleanup()
    })()
    return this.#closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /** A tracker for a call with onProgress; the head is asked to say when jobs are leased while any call watches. */
  #track(onProgress: MapOptions['onProgress'], total: number | undefined): ProgressTracker | undefined {
    if (onProgress === undefined) return undefined
    if (this.#watchers++ === 0) this.#client.watch(true)
    return new ProgressTracker((progress) => {
      try {
        onProgress(progress)
      } catch (err) {
        process.emitWarning(`meshpool: onProgress threw: ${(err as Error)?.stack ?? String(err)}`)
      }
    }, total)
  }

  /** A call after close() is refused plainly (not as "closed before this call finished"). */
  #checkOpen(): void {
    if (this.#closing !== undefined) {
      throw new PoolClosedError(
        'the pool is closed: this call came after pool.close(); create a new pool to run more jobs',
      )
    }
  }

  /**
   * Runs the inputs through the pool, yielding each job's outcome with its input
   * index as results arrive; a failed job ends the call unless `settle` is set.
   * A feeder reads the inputs (lazily, at most `window` jobs out) while results
   * are yielded, so a slow input never holds results back.
   */
  async *#run(
    inputs: Inputs<ParamsOf<W>>,
    options: MapOptions,
    call: 'map' | 'imapUnordered',
  ): AsyncGenerator<Settled<ResultOf<W>>> {
    this.#checkOpen()
    checkCallOptions(options, call)
    const settle = options.settle === true
    const { signal } = options
    if (signal?.aborted === true) throw abortError(signal)
    const window = options.window ?? this.#window
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs
    const iterator = toAsyncIterator(inputs)
    const ready: Array<{ index: number; value?: Uint8Array; error?: Error }> = []
    const inFlight = new Map<number, number>() // job id → input index
    let wake: (() => void) | undefined
    let roomFor: (() => void) | undefined
    const nudge = (): void => {
      wake?.()
      wake = undefined
    }
    let stopped = false
    let exhausted = false
    let feedError: Error | undefined
    const tracker = this.#track(options.onProgress, Array.isArray(inputs) ? inputs.length : undefined)

    let read = 0
    const feed = async (): Promise<void> => {
      for (let index = 0; !stopped; index++) {
        // Results not yet taken by the caller count against the window too: memory stays bounded.
        while (inFlight.size + ready.length >= window && !stopped) {
          await new Promise<void>((resolve) => {
            roomFor = resolve
          })
        }
        if (stopped) return
        const next = await iterator.next()
        if (next.done === true || stopped) break
        const { id, result } = this.#client.submit(encodeValue(next.value, `params (input ${index})`), timeoutMs)
        inFlight.set(id, index)
        if (tracker !== undefined) {
          this.#trackers.set(id, tracker)
          tracker.submitted(id, index)
        }
        result
          .then(
            (value) => {
              tracker?.finished(id, true)
              ready.push({ index, value })
            },
            (error: Error) => {
              tracker?.finished(id, false)
              ready.push({ index, error })
            },
          )
          .finally(() => {
            this.#trackers.delete(id)
            inFlight.delete(id)
            nudge()
          })
        read = index + 1
      }
      exhausted = true
      tracker?.exhausted(read)
    }
    const feeding = feed().then(
      () => nudge(),
      (err: unknown) => {
        feedError = err as Error
        nudge()
      },
    )
    signal?.addEventListener('abort', nudge, { once: true })
    try {
      while (true) {
        if (signal !== undefined && isAborted(signal)) throw abortError(signal)
        if (feedError !== undefined) throw feedError
        const item = ready.shift()
        if (item !== undefined) {
          const { index, error } = item
          if (error !== undefined && (!settle || endsTheCall(error))) throw error
          yield error === undefined
            ? { ok: true, value: decodeValue<ResultOf<W>>(item.value as Uint8Array), index }
            : { ok: false, error, index }
          roomFor?.()
          continue
        }
        if (exhausted && inFlight.size === 0) return
        await new Promise<void>((resolve) => {
          wake = resolve
        })
        roomFor?.()
      }
    } finally {
      stopped = true
      signal?.removeEventListener('abort', nudge)
      roomFor?.()
      // An error, an abort or a consumer that stopped early: the jobs still out are not wanted.
      if (inFlight.size > 0) this.#client.cancel([...inFlight.keys()])
      if (tracker !== undefined) {
        for (const id of inFlight.keys()) this.#trackers.delete(id)
        tracker.end()
        if (--this.#watchers === 0) this.#client.watch(false)
      }
      // Not awaited: the input may be stuck in a next() that never resolves, and an abort rejects at once.
      if (!exhausted) void Promise.resolve(iterator.return?.()).catch(() => {})
      void feeding
    }
  }
}

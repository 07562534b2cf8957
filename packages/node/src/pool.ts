import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { isAbsolute, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  CLIENT_PROTOCOL,
  type ClientMessage,
  checkLimits,
  checkPositiveInteger,
  DEFAULT_WINDOW,
  decodeValue,
  describe,
  encodeValue,
  type HeadToClientMessage,
  InvalidOptionError,
  inbound,
} from '@meshpool/core'
import { NodeAgent } from './agent.js'
import { channelPair, StreamChannel } from './channel.js'
import { PoolClient } from './client.js'
import { dialHead, parseHeadAddress } from './dial.js'
import { attachLocalAgent, HeadService } from './head-service.js'
import { type Inputs, toAsyncIterator } from './inputs.js'
import { createPeer, type MeshPeer } from './peer.js'
import { derivePoolKey, derivePoolSecret } from './psk.js'
import type { InitOf, ParamsOf, ResultOf, UpdateOf, WorkerClass } from './worker-types.js'

export interface PoolOptions<W extends WorkerClass = WorkerClass> {
  /** The worker module: a file URL or a path (relative paths resolve against the working directory). */
  worker: URL | string
  /** Passed to the worker's constructor in every slot. */
  init?: InitOf<W>
  /** The head's multiaddr. Omitted: an embedded head with local slots in this process. */
  head?: string
  /** The pool password; required with a remote head. @default process.env.MESHPOOL_PASSWORD */
  password?: string
  /** Local slots of an embedded head. @default cores minus one, at least one */
  slots?: number
  /** Jobs a call keeps in flight before it waits for results. @default 4096 */
  window?: number
  /** Attempts before a job whose worker keeps dying fails (embedded head). @default 3 */
  maxAttempts?: number
  retries?: number
  timeoutMs?: number
  leaseMs?: number
  maxJobsPerSlot?: number
}

export interface CallOptions {
  signal?: AbortSignal
  /** Jobs in flight for this call. @default the pool's window */
  window?: number
}

/** The default number of CPU slots: cores minus one, at least one. */
export function defaultSlots(): number {
  return Math.max(1, availableParallelism() - 1)
}

/**
 * A pool of workers on a mesh: run a worker class over many inputs.
 * Create one with {@link createPool}.
 */
export class Pool<W extends WorkerClass = WorkerClass> {
  readonly #client: PoolClient
  readonly #window: number
  readonly #cleanup: () => Promise<void>
  #closing: Promise<void> | undefined

  /** @internal */
  constructor(client: PoolClient, window: number, cleanup: () => Promise<void>) {
    this.#client = client
    this.#window = window
    this.#cleanup = cleanup
  }

  /** Runs one job; resolves with its result. */
  async submit(params: ParamsOf<W>, options: CallOptions = {}): Promise<ResultOf<W>> {
    options.signal?.throwIfAborted()
    const bytes = encodeValue(params, 'params')
    return decodeValue<ResultOf<W>>(await this.#client.submit(bytes))
  }

  /** Runs every input; resolves with the results in input order. Rejects with the first error. */
  async map(inputs: Inputs<ParamsOf<W>>, options: CallOptions = {}): Promise<Array<ResultOf<W>>> {
    const results: Array<ResultOf<W>> = []
    for await (const [index, result] of this.#run(inputs, options)) results[index] = result
    return results
  }

  /** Yields results in completion order, reading the inputs lazily with a bounded window. */
  async *imapUnordered(inputs: Inputs<ParamsOf<W>>, options: CallOptions = {}): AsyncGenerator<ResultOf<W>> {
    for await (const [, result] of this.#run(inputs, options)) yield result
  }

  /** Broadcasts a cache update to every slot of this pool, applied between jobs. Resolves once the head has logged it. */
  async updateWorkers(update: UpdateOf<W>): Promise<number> {
    return this.#client.update(encodeValue(update, 'the update'))
  }

  /** Slots in the mesh (the embedded or head's own local slots count). */
  async workersCount(): Promise<number> {
    return (await this.#client.stats()).workers
  }

  /** Nodes in the mesh that run slots (a head with local slots counts as one). */
  async nodesCount(): Promise<number> {
    return (await this.#client.stats()).nodes
  }

  /** Closes the pool: open calls reject with PoolClosedError, connections and local slots stop. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#client.close()
      await this.#cleanup()
    })()
    return this.#closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  async *#run(inputs: Inputs<ParamsOf<W>>, options: CallOptions): AsyncGenerator<[number, ResultOf<W>]> {
    checkPositiveInteger(options.window, 'options.window')
    options.signal?.throwIfAborted()
    const window = options.window ?? this.#window
    const iterator = toAsyncIterator(inputs)
    const ready: Array<{ index: number; value?: Uint8Array; error?: Error }> = []
    let wake: (() => void) | undefined
    let inFlight = 0
    let index = 0
    let exhausted = false
    try {
      while (true) {
        while (!exhausted && inFlight < window) {
          const next = await iterator.next()
          if (next.done === true) {
            exhausted = true
            break
          }
          const at = index++
          const bytes = encodeValue(next.value, `params (input ${at})`)
          inFlight++
          this.#client.submit(bytes).then(
            (value) => {
              ready.push({ index: at, value })
              wake?.()
            },
            (error: Error) => {
              ready.push({ index: at, error })
              wake?.()
            },
          )
        }
        if (exhausted && inFlight === 0) return
        if (ready.length === 0) {
          await new Promise<void>((resolve) => {
            wake = resolve
          })
          wake = undefined
        }
        options.signal?.throwIfAborted()
        for (const item of ready.splice(0)) {
          inFlight--
          if (item.error !== undefined) throw item.error
          yield [item.index, decodeValue<ResultOf<W>>(item.value as Uint8Array)]
        }
      }
    } finally {
      if (!exhausted) await iterator.return?.()
    }
  }
}

/**
 * Creates a pool. With `head`, it joins that mesh (the password is required);
 * without, it starts a head with local slots inside this process.
 *
 * @example
 * ```ts
 * const pool = await createPool<typeof Squares>({ worker: new URL('./squares.js', import.meta.url) })
 * console.log(await pool.map([1, 2, 3]))
 * await pool.close()
 * ```
 */
export async function createPool<W extends WorkerClass = WorkerClass>(options: PoolOptions<W>): Promise<Pool<W>> {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError(
      "createPool needs an options object: createPool({ worker: new URL('./worker.js', import.meta.url) })",
    )
  }
  const worker = workerPath(options.worker)
  checkLimits(options)
  checkPositiveInteger(options.slots, 'options.slots')
  const init = encodeValue(options.init, 'options.init')
  const window = options.window ?? DEFAULT_WINDOW

  if (options.head === undefined) {
    const head = new HeadService({ ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }) })
    const agent = new NodeAgent({ slots: options.slots ?? defaultSlots(), name: 'local' })
    agent.start()
    attachLocalAgent(head, agent)
    const [clientSide, headSide] = channelPair<HeadToClientMessage, ClientMessage>()
    head.attachClient(headSide)
    const client = new PoolClient(clientSide)
    await client.open(worker, init)
    return new Pool<W>(client, window, async () => {
      head.close()
      await agent.stop()
    })
  }

  if (typeof options.head !== 'string') {
    throw new InvalidOptionError(`options.head must be the head's multiaddr string, got ${describe(options.head)}`)
  }
  parseHeadAddress(options.head)
  const password = options.password ?? process.env.MESHPOOL_PASSWORD
  if (typeof password !== 'string' || password === '') {
    throw new InvalidOptionError(
      'options.password is required with a remote head: pass { password } or set MESHPOOL_PASSWORD to the pool password',
    )
  }
  const peer: MeshPeer = await createPeer({ psk: derivePoolKey(password) })
  try {
    const stream = await dialHead(peer, options.head, CLIENT_PROTOCOL, derivePoolSecret(password))
    const client = new PoolClient(new StreamChannel(stream, inbound.client))
    await client.open(worker, init)
    return new Pool<W>(client, window, async () => {
      await peer.stop()
    })
  } catch (err) {
    await peer.stop()
    throw err
  }
}

function workerPath(worker: unknown): string {
  let path: string
  if (worker instanceof URL) {
    if (worker.protocol !== 'file:')
      throw new InvalidOptionError(`options.worker must be a file: URL, got ${worker.href}`)
    path = fileURLToPath(worker)
  } else if (typeof worker === 'string' && worker !== '') {
    path = worker.startsWith('file:') ? fileURLToPath(worker) : isAbsolute(worker) ? worker : resolve(worker)
  } else {
    throw new InvalidOptionError(
      `options.worker must be the worker module's path or file URL, e.g. new URL('./worker.js', import.meta.url); got ${describe(worker)}`,
    )
  }
  if (!existsSync(path)) {
    throw new InvalidOptionError(
      `options.worker: no file at ${path}; pass the path of a module whose default export is the worker class`,
    )
  }
  return path
}

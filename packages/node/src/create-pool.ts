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
import { launch } from './launch.js'
import { createPeer, type MeshPeer } from './peer.js'
import { type Launcher, Pool } from './pool.js'
import { poolSecret, swarmKey } from './psk.js'
import { bundleWorker } from './ship.js'
import type { InitOf, WorkerClass } from './worker-types.js'

export interface PoolOptions<W extends WorkerClass = WorkerClass> {
  /** The worker module: a file URL or a path (relative paths resolve against the working directory). */
  worker: URL | string
  /** Passed to the worker's constructor in every slot. */
  init?: InitOf<W>
  /** The head's multiaddr. Omitted: an embedded head with local slots in this process. */
  head?: string
  /** The pool password; required with a remote head, unless `poolKeyFile` is given. @default process.env.MESHPOOL_PASSWORD */
  password?: string
  /** A pool key file written by `meshpool keygen`, instead of a password. @default process.env.MESHPOOL_POOL_KEY_FILE */
  poolKeyFile?: string
  /** The pool's name, if the head was given one: it salts the key. @default process.env.MESHPOOL_POOL_NAME */
  poolName?: string
  /** Local slots of an embedded head. @default cores minus one, at least one */
  slots?: number
  /** Jobs a call keeps in flight before it waits for results. @default 4096 */
  window?: number
  /** Attempts before a job whose slot or node keeps dying fails with WorkerLostError. @default 3 */
  maxAttempts?: number
  /** Retries of a job whose run() threw, with backoff. @default 0 */
  retries?: number
  /** Run time limit of each job in ms (calls may set their own). @default none */
  timeoutMs?: number
  /** How long a node's lease on a job lasts without a heartbeat. @default 3000 */
  leaseMs?: number
  /**
   * A slot process that has run this many jobs is replaced (its worker
   * disposed, a fresh process and instance in its place) before it takes
   * another: long GPU runs that leak memory stay healthy. @default unlimited
   */
  maxJobsPerSlot?: number
  /**
   * Bundle the worker module (esbuild; package imports stay imports) and ship
   * it to the nodes, which cache it by hash. false: every node loads `worker`
   * from the same path. Only a remote head uses it. @default true
   */
  ship?: boolean
  /**
   * Where the workers' output goes (stdout, stderr and console of every slot
   * running this pool's jobs, each line prefixed with its node and slot):
   * this process's stderr, nowhere, or a function of each line. @default 'inherit'
   */
  output?: 'inherit' | 'ignore' | ((line: string) => void)
  /** How long to keep trying to reach a head that went away before open calls fail. @default 60000 */
  reconnectTimeoutMs?: number
}

/** The default number of CPU slots: cores minus one, at least one. */
export function defaultSlots(): number {
  return Math.max(1, availableParallelism() - 1)
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
  checkPositiveInteger(options.reconnectTimeoutMs, 'options.reconnectTimeoutMs')
  const settings = {
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
    ...(options.retries === undefined ? {} : { retries: options.retries }),
    ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
    ...(options.maxJobsPerSlot === undefined ? {} : { maxJobsPerSlot: options.maxJobsPerSlot }),
  }
  const clientInit = {
    worker,
    init: encodeValue(options.init, 'options.init'),
    settings,
    onOutput: outputSink(options.output),
    ...(options.reconnectTimeoutMs === undefined ? {} : { reconnectTimeoutMs: options.reconnectTimeoutMs }),
  }
  const callDefaults = { window: options.window ?? DEFAULT_WINDOW, timeoutMs: options.timeoutMs ?? 0 }

  if (options.head === undefined) {
    const head = new HeadService({ alone: true })
    const onLateLine = (line: string): void => clientInit.onOutput([line]) // dispose() as the pool closes
    const agent = new NodeAgent({ slots: options.slots ?? defaultSlots(), name: 'local', onLateLine })
    agent.start()
    attachLocalAgent(head, agent)
    const [clientSide, headSide] = channelPair<HeadToClientMessage, ClientMessage>()
    head.attachClient(headSide)
    const client = new PoolClient(clientInit)
    await client.open(clientSide)
    return new Pool<W>(client, callDefaults, async () => {
      head.close()
      await agent.stop()
    })
  }

  if (typeof options.head !== 'string') {
    throw new InvalidOptionError(`options.head must be the head's multiaddr string, got ${describe(options.head)}`)
  }
  const headAddress = options.head
  parseHeadAddress(headAddress)
  const poolKeyFile =
    options.poolKeyFile ?? (options.password === undefined ? envValue('MESHPOOL_POOL_KEY_FILE') : undefined)
  const password = options.password ?? (poolKeyFile === undefined ? envValue('MESHPOOL_PASSWORD') : undefined)
  if ((password === undefined || password === '') && poolKeyFile === undefined) {
    throw new InvalidOptionError(
      'options.password is required with a remote head: pass { password } or set MESHPOOL_PASSWORD to the pool password (or use a pool key file: { poolKeyFile } or MESHPOOL_POOL_KEY_FILE)',
    )
  }
  const secret = poolSecret({ password, poolKeyFile, poolName: options.poolName ?? envValue('MESHPOOL_POOL_NAME') })
  if (options.ship !== undefined && typeof options.ship !== 'boolean') {
    throw new InvalidOptionError(`options.ship must be true or false, got ${describe(options.ship)}`)
  }
  const shipped = options.ship === false ? undefined : await bundleWorker(worker)
  const peer: MeshPeer = await createPeer({ psk: swarmKey(secret) })
  const connect = async () =>
    new StreamChannel<HeadToClientMessage, ClientMessage>(
      await dialHead(peer, headAddress, CLIENT_PROTOCOL, secret),
      inbound.client,
    )
  try {
    const client = new PoolClient({
      ...clientInit,
      ...(shipped === undefined ? {} : { code: shipped.code }),
      reconnect: connect,
    })
    await client.open(await connect())
    const launcher: Launcher = (launchOptions) =>
      launch(
        headAddress,
        { password, poolKeyFile, poolName: options.poolName ?? envValue('MESHPOOL_POOL_NAME') },
        launchOptions,
      )
    return new Pool<W>(client, { ...callDefaults, launcher }, async () => {
      await peer.stop()
    })
  } catch (err) {
    await peer.stop()
    throw err
  }
}

/** Where the workers' output lines go. */
function outputSink(output: PoolOptions['output']): (lines: string[]) => void {
  if (output === undefined || output === 'inherit') {
    return (lines) => process.stderr.write(lines.map((line) => `${line}\n`).join(''))
  }
  if (output === 'ignore') return () => {}
  if (typeof output === 'function') {
    return (lines) => {
      for (const line of lines) output(line)
    }
  }
  throw new InvalidOptionError(
    `options.output must be 'inherit', 'ignore' or a function of a line, got ${describe(output)}`,
  )
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

function envValue(name: string): string | undefined {
  const value = process.env[name]
  return value === undefined || value === '' ? undefined : value
}

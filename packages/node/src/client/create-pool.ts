import { existsSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { logger } from '@libp2p/logger'
import {
  BLOB_VALUE_PART_BYTES,
  checkKnownKeys,
  checkLimits,
  checkPositiveInteger,
  describe,
  encodeValue,
  InvalidOptionError,
  type PoolSettingsWire,
  printable,
} from '@meshpool/core'
import { callerAdminKey } from '../net/admin-key.js'
import { serveBlobs } from '../net/blob-transfer.js'
import { HeadCursor, meshIdOf, parseHeadList } from '../net/head-list.js'
import { clientIdentity } from '../net/identity.js'
import { listenAddressesFor } from '../net/listen-address.js'
import { createDialingPeer, type DialingPeer } from '../net/peer.js'
import { hasSecret, poolSecret, swarmKey, withEnvironmentAccess } from '../net/psk.js'
import type { WorkerClass } from '../worker-types.js'
import { bundleWorker } from './bundle.js'
import { ClientParams } from './client-params.js'
import { ClientResults } from './client-results.js'
import { startEmbeddedMesh } from './embedded.js'
import { connectToHead, openOnActiveHead } from './head-connect.js'
import { launch } from './launch.js'
import { type Launcher, Pool } from './pool.js'
import { PoolClient, type PoolClientInit } from './pool-client.js'
import { POOL_OPTION_KEYS, type PoolOptions, type PoolSettings } from './pool-options.js'

const clientLog = logger('meshpool:client')

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
  checkKnownKeys(options, POOL_OPTION_KEYS, 'createPool')
  const worker = workerPath(options.worker)
  checkLimits(options)
  checkPositiveInteger(options.slots, 'options.slots')
  checkPositiveInteger(options.reconnectTimeoutMs, 'options.reconnectTimeoutMs')
  const clientInit: PoolClientInit = {
    worker,
    init: encodeValue((options as { init?: unknown }).init, 'options.init'),
    settings: wireSettings(options),
    onOutput: outputSink(options.output),
    ...(options.reconnectTimeoutMs === undefined ? {} : { reconnectTimeoutMs: options.reconnectTimeoutMs }),
  }
  const callDefaults = { window: options.window, timeoutMs: options.timeoutMs ?? 0 }
  if (options.head === undefined) return embeddedPool<W>(options, clientInit, callDefaults)
  return remotePool<W>(options, clientInit, callDefaults)
}

type CallDefaults = { window: number | undefined; timeoutMs: number }

/** What the pool asks of its leases and retries, as the client protocol says it. */
function wireSettings(options: PoolSettings): PoolSettingsWire {
  return {
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
    ...(options.retries === undefined ? {} : { retries: options.retries }),
    ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
    ...(options.maxJobsPerSlot === undefined ? {} : { maxJobsPerSlot: options.maxJobsPerSlot }),
    ...(options.priority === undefined ? {} : { priority: options.priority }),
  }
}

/** A pool on a head with local slots inside this process. */
async function embeddedPool<W extends WorkerClass>(
  options: PoolSettings,
  clientInit: PoolClientInit,
  callDefaults: CallDefaults,
): Promise<Pool<W>> {
  const onOutput = clientInit.onOutput as (lines: string[]) => void
  const mesh = startEmbeddedMesh({
    slots: options.slots,
    onLateLine: (line) => onOutput([line]), // dispose() as the pool closes
  })
  const client = new PoolClient({ ...clientInit, log: (line) => clientLog('local: %s', line) })
  await client.open(mesh.channel)
  return new Pool<W>(client, callDefaults, () => mesh.close())
}

/** A pool on the mesh of the head at `options.head`. */
async function remotePool<W extends WorkerClass>(
  options: PoolSettings,
  clientInit: PoolClientInit,
  callDefaults: CallDefaults,
): Promise<Pool<W>> {
  const heads = new HeadCursor(parseHeadList(options.head, 'options.head'))
  const headAddress = heads.heads.join(',')
  const access = withEnvironmentAccess({
    token: options.token,
    password: options.password,
    poolKeyFile: options.poolKeyFile,
    poolName: options.poolName,
  })
  if (!hasSecret(access)) {
    throw new InvalidOptionError(
      "a remote head needs the pool's secret: pass { token } or set MESHPOOL_TOKEN to the token `meshpool head` printed (or { password } / MESHPOOL_PASSWORD, or { poolKeyFile } / MESHPOOL_POOL_KEY_FILE)",
    )
  }
  const secret = poolSecret(access, meshIdOf(heads.heads))
  if (options.ship !== undefined && typeof options.ship !== 'boolean') {
    throw new InvalidOptionError(`options.ship must be true or false, got ${describe(options.ship)}`)
  }
  const shipped = options.ship === false ? undefined : await bundleWorker(clientInit.worker)
  const privateKey = await clientIdentity(optionalPath(options.identityFile, 'identityFile'))
  const adminKeyFile = optionalPath(options.adminKeyFile, 'adminKeyFile')
  const listen = options.listen === false ? [] : listenAddressesFor(headAddress, options.listen, 'options.listen')
  const peer: DialingPeer = await createDialingPeer({
    psk: swarmKey(secret),
    ...(privateKey === undefined ? {} : { privateKey }),
    listen,
  })
  const connect = () => connectToHead(peer, heads, secret)
  try {
    const peerId = peer.peerId.toString()
    const params = new ClientParams()
    // Big params in frames as big as frames may be: a node puts fewer parts together.
    await serveBlobs(peer, (hash) => params.get(hash), BLOB_VALUE_PART_BYTES)
    const results = new ClientResults(() => client.openJobs > 0)
    await results.serve(peer)
    const client: PoolClient = new PoolClient({
      ...clientInit,
      ...(shipped === undefined ? {} : { code: shipped.code }),
      big: { params, results },
      addrs: peer.getMultiaddrs().map((address) => address.toString()),
      reconnect: connect,
      log: (line) => clientLog('%s: %s', peerId, line),
    })
    await openOnActiveHead(client, heads, connect)
    const launcher: Launcher = (launchOptions) => launch(headAddress, access, launchOptions)
    const adminKey = () => callerAdminKey(adminKeyFile)
    return new Pool<W>(client, { ...callDefaults, launcher, adminKey }, async () => {
      await peer.stop()
    })
  } catch (err) {
    await peer.stop()
    throw err
  }
}

/**
 * Where the workers' output lines go. Lines come from other machines'
 * workers: terminal control characters are stripped before anyone prints them.
 */
function outputSink(output: PoolSettings['output']): (lines: string[]) => void {
  if (output === undefined || output === 'inherit') {
    return (lines) => process.stderr.write(lines.map((line) => `${printable(line)}\n`).join(''))
  }
  if (output === 'ignore') return () => {}
  if (typeof output === 'function') {
    return (lines) => {
      for (const line of lines) output(printable(line))
    }
  }
  throw new InvalidOptionError(
    `options.output must be 'inherit', 'ignore' or a function of a line, got ${describe(output)}`,
  )
}

function optionalPath(value: unknown, name: string): string | undefined {
  if (value === undefined || (typeof value === 'string' && value !== '')) return value
  throw new InvalidOptionError(`options.${name} must be a file path, got ${describe(value)}`)
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

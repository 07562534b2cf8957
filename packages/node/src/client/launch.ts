import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { checkPositiveInteger, InvalidOptionError } from '@meshpool/core'
import { listenAddressesFor } from '../net/listen-address.js'
import type { PoolAccess } from '../net/psk.js'
import { parseGpuSelection } from './embedded.js'

const LAUNCHED_NODE = fileURLToPath(new URL('../node/launched-main.js', import.meta.url))
/** How long a launched node may take to join. */
const READY_TIMEOUT_MS = 60_000
/** How long a launched process may take to leave after SIGTERM before it is killed. */
const STOP_GRACE_MS = 5000

export interface LaunchOptions {
  /** How many processes. */
  n: number
  /** CPU slots of each node. @default 1 */
  cpu?: number
  /** A V8 heap limit for each slot process, in MB (--max-old-space-size: native and GPU memory are not counted). */
  memory?: number
  /** Which GPUs each node uses, one slot per GPU: 'all', 'none' or a list like '0,2'. */
  gpus?: string
  /** More environment variables for the processes. */
  env?: Record<string, string>
  /** Run this program (a file) instead of a node; it gets MESHPOOL_HEAD and MESHPOOL_HEAD_IP. */
  script?: string
  /** Run this JavaScript (an ES module) instead of a node; it gets MESHPOOL_HEAD and MESHPOOL_HEAD_IP. */
  code?: string
  /**
   * Where each node listens for the other nodes (as `meshpool join --listen`).
   * @default a free port on 127.0.0.1 when the head is on a loopback address, else on every interface
   */
  listen?: string | string[]
}

/** A process that launchWorkers started. */
export interface LaunchedWorker {
  kind: 'node' | 'program'
  pid: number
  /** A node's peer id (as listWorkers and stopWorkers name it); none for a program. */
  nodeId?: string
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>
}

/** A launched process and how to end it. */
export interface LaunchHandle extends LaunchedWorker {
  stop(): Promise<void>
}

/**
 * Starts `n` node processes on this machine, joined to `head` with the pool's
 * secret (on a pipe: never in their environment, which their slots could read,
 * nor on a command line), or `n` copies of a program with the head's address
 * in MESHPOOL_HEAD and its IP in MESHPOOL_HEAD_IP, as a cluster's workers get
 * the master's address (a program gets the secret in its environment too).
 */
export async function launch(head: string, access: PoolAccess, options: LaunchOptions): Promise<LaunchHandle[]> {
  checkLaunchOptions(options)
  const ip = /\/ip[46]\/([^/]+)/.exec(head)?.[1] ?? ''
  const env: NodeJS.ProcessEnv = {
    ...withoutSecrets(process.env),
    ...options.env,
    MESHPOOL_HEAD: head,
    MESHPOOL_HEAD_IP: ip,
    ...(access.poolName === undefined ? {} : { MESHPOOL_POOL_NAME: access.poolName }),
    ...(options.memory === undefined ? {} : { MESHPOOL_SLOT_MEMORY_MB: String(options.memory) }),
  }
  if (options.script !== undefined || options.code !== undefined) {
    const args =
      options.script !== undefined ? [resolve(options.script)] : ['--input-type=module', '-e', options.code as string]
    const secrets = {
      ...(access.token === undefined ? {} : { MESHPOOL_TOKEN: access.token }),
      ...(access.password === undefined ? {} : { MESHPOOL_PASSWORD: access.password }),
      ...(access.poolKeyFile === undefined ? {} : { MESHPOOL_POOL_KEY_FILE: access.poolKeyFile }),
    }
    return Array.from({ length: options.n }, (_, i) => program(args, { ...env, ...secrets }, i))
  }
  const listen = listenAddressesFor(head, options.listen, 'launchWorkers: listen')
  const started = Array.from({ length: options.n }, () => node(options, listen, env, access))
  const settled = await Promise.allSettled(started)
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
  if (failed !== undefined) {
    await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)))
    throw failed.reason
  }
  return settled.map((s) => (s as PromiseFulfilledResult<LaunchHandle>).value)
}

function checkLaunchOptions(options: LaunchOptions): void {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('launchWorkers takes { n, … }')
  checkPositiveInteger(options.n, 'n')
  checkPositiveInteger(options.cpu, 'cpu')
  checkPositiveInteger(options.memory, 'memory')
  if (options.gpus !== undefined) parseGpuSelection(options.gpus)
  if (options.script !== undefined && options.code !== undefined) {
    throw new InvalidOptionError('launchWorkers takes script or code, not both')
  }
  if (options.script !== undefined && !existsSync(options.script)) {
    throw new InvalidOptionError(`launchWorkers: no file at ${options.script} (script)`)
  }
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (typeof value !== 'string') throw new InvalidOptionError(`launchWorkers: env.${key} must be a string`)
  }
}

/** The environment variables that hold a secret: a launched node takes its own from a pipe. */
const SECRET_VARS = ['MESHPOOL_TOKEN', 'MESHPOOL_PASSWORD', 'MESHPOOL_POOL_KEY_FILE', 'MESHPOOL_WEB_TOKEN']

function withoutSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept = { ...env }
  for (const name of SECRET_VARS) delete kept[name]
  return kept
}

function node(
  options: LaunchOptions,
  listen: string[],
  env: NodeJS.ProcessEnv,
  access: PoolAccess,
): Promise<LaunchHandle> {
  const stateDir = mkdtempSync(join(tmpdir(), 'meshpool-launched-'))
  const config = {
    slots: options.cpu ?? 1,
    stateDir,
    listen,
    ...(options.gpus === undefined ? {} : { gpus: options.gpus }),
  }
  const child = spawn(process.execPath, [LAUNCHED_NODE, JSON.stringify(config)], {
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
  })
  // The secret, on fd 3 (see ACCESS_FD in node/launched-main.ts); the node reads it to the end, then closes it.
  const secretPipe = child.stdio[3] as Writable | null
  secretPipe?.on('error', () => {}) // a node that died at start reports itself through its exit
  secretPipe?.end(JSON.stringify(access))
  holdLifeline(child)
  const handle = handleOf('node', child, () => rmSync(stateDir, { recursive: true, force: true }))
  return new Promise((resolveReady, reject) => {
    let text = ''
    const onData = (chunk: Buffer): void => {
      // Keep what the node says until it is ready (a failure names its cause there), then only a little.
      text = (text + chunk.toString()).slice(-20_000)
      const id = /^node (\S+)$/m.exec(text)?.[1]
      if (id !== undefined && /^ready$/m.test(text)) {
        clearTimeout(timer)
        resolveReady({ ...handle, nodeId: id })
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    const timer = setTimeout(() => {
      void handle.stop()
      reject(new Error(`a launched node did not join within ${READY_TIMEOUT_MS} ms:\n${text}`))
    }, READY_TIMEOUT_MS)
    void handle.exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`a launched node exited (${code}) before it joined:\n${text}`))
    })
  })
}

/**
 * Keeps this process's end of the node's fd 4 (LIFELINE_FD in node/launched-main.ts)
 * open, writing nothing: the node sees it close when this process ends however it
 * ends (close(), an uncaught error, SIGKILL), and drains and leaves. It must not
 * keep this process alive on its own.
 */
function holdLifeline(child: ChildProcess): void {
  const lifeline = child.stdio[4] as (Writable & { unref?: () => void }) | null
  lifeline?.on('error', () => {}) // the node has gone: its exit says so
  lifeline?.unref?.()
}

function program(args: string[], env: NodeJS.ProcessEnv, index: number): LaunchHandle {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n'))
        if (line !== '') process.stderr.write(`[launched ${index}] ${line}\n`)
    })
  }
  return handleOf('program', child)
}

function handleOf(kind: 'node' | 'program', child: ChildProcess, cleanup: () => void = () => {}): LaunchHandle {
  const exited = new Promise<number | string>((resolveExit) => {
    child.once('exit', (code, signal) => {
      cleanup()
      resolveExit(code ?? signal ?? -1)
    })
    child.once('error', () => resolveExit(-1))
  })
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
    await exited
    clearTimeout(timer)
  }
  return { kind, pid: child.pid ?? -1, exited, stop }
}

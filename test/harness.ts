import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export { waitFor } from './wait-for.js'

export const BIN = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
export const WORKER = new URL('./fixtures/worker.js', import.meta.url)
export const PASSWORD = 'test-password-correct-horse'

/** What the test worker (fixtures/worker.js) returns for a job. */
export interface Out {
  x: number
  y: number
  node: string
  slot: number
  pid: number
  attempt: number
  jobId: number
  startedAt: number
  updates: unknown[]
}

const running = new Set<Proc>()
const tempDirs: string[] = []

export interface Proc {
  child: ChildProcess
  output(): string
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>
  /** Writes a line to the process's stdin. */
  send(line: string): void
}

/**
 * Runs the meshpool CLI of this checkout as a real process, with a state
 * folder of its own (a node's lock lives there: one node per folder).
 */
export function meshpool(args: string[], env: NodeJS.ProcessEnv = {}, options: { cwd?: string } = {}): Proc {
  const child = spawn(process.execPath, [BIN, ...args], {
    ...options,
    env: { ...process.env, MESHPOOL_PASSWORD: PASSWORD, MESHPOOL_STATE_DIR: tempDir(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const proc = capture(child)
  running.add(proc)
  return proc
}

export interface Head extends Proc {
  address: string
  peerId: string
}

/**
 * Watches a child process: its output (stdout and stderr together), its exit,
 * and lines to wait for. `send` writes a line to its stdin, if it has one.
 */
export function capture(child: ChildProcess): Proc {
  let text = ''
  const listeners = new Set<() => void>()
  const onData = (chunk: Buffer): void => {
    text += chunk.toString()
    for (const listener of listeners) listener()
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  child.stdin?.on('error', () => {}) // the process may exit before it reads
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      for (const listener of listeners) listener()
      resolve(code ?? signal ?? -1)
    })
    child.once('error', (err) => {
      text += `\nspawn failed: ${err.message}\n`
      resolve(-1)
    })
  })
  const proc: Proc = {
    child,
    send: (line) => {
      if (child.stdin === null) throw new Error('the process was started without stdin')
      child.stdin.write(`${line}\n`)
    },
    output: () => text,
    exited,
    waitForLine: (pattern, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const line = text.split('\n').find((l) => pattern.test(l))
          if (line !== undefined) {
            done()
            resolve(line)
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done()
            reject(new Error(`process exited before printing ${pattern}; output:\n${text}`))
          }
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; output:\n${text}`))
        }, timeoutMs)
        const done = (): void => {
          clearTimeout(timer)
          listeners.delete(check)
        }
        listeners.add(check)
        check()
      }),
  }
  child.once('exit', () => running.delete(proc))
  return proc
}

/** Starts `meshpool head` on 127.0.0.1 and waits until it is ready. */
export async function startHead(
  options: {
    slots?: number
    noWork?: boolean
    port?: number
    keyFile?: string
    /** More flags for `meshpool head`. */
    args?: string[]
    env?: NodeJS.ProcessEnv
  } = {},
): Promise<Head> {
  const args = ['head', '--host', '127.0.0.1', '--port', String(options.port ?? 0)]
  args.push('--key-file', options.keyFile ?? join(tempDir(), 'head.key'))
  if (options.noWork === true) args.push('--no-work')
  else args.push('--slots', String(options.slots ?? 1))
  const proc = meshpool([...args, ...(options.args ?? [])], options.env)
  await proc.waitForLine(/^ready$/)
  const address = /\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+/.exec(proc.output())?.[0]
  if (address === undefined) throw new Error(`no join address in the head's output:\n${proc.output()}`)
  return { ...proc, address, peerId: address.split('/p2p/')[1] as string }
}

export interface JoinedNode extends Proc {
  peerId: string
}

/** Starts `meshpool join` and waits until the node is ready. */
export async function joinNode(address: string, slots = 2, env: NodeJS.ProcessEnv = {}): Promise<JoinedNode> {
  const proc = meshpool(['join', address, '--slots', String(slots)], env)
  await proc.waitForLine(/^ready$/)
  const peerId = /^node (\S+)/m.exec(proc.output())?.[1]
  if (peerId === undefined) throw new Error(`no peer id in the node's output:\n${proc.output()}`)
  return { ...proc, peerId }
}

/** Stops every process a test started; SIGKILL for those that do not go on SIGTERM. */
export async function stopAll(): Promise<void> {
  const all = [...running]
  for (const proc of all) proc.child.kill('SIGTERM')
  await Promise.all(
    all.map((proc) =>
      Promise.race([proc.exited, new Promise((resolve) => setTimeout(resolve, 3000))]).then(() => {
        if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL')
        return proc.exited
      }),
    ),
  )
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true })
}

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshpool-test-'))
  tempDirs.push(dir)
  return dir
}

/** A TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

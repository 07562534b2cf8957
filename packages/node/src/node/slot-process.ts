import { type ChildProcess, fork } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type { Logger } from '@libp2p/interface'
import { type FromSlot, STARTED_FD, type ToSlot } from '../slot/protocol.js'
import type { SlotUser } from './slot-user.js'

const SLOT_MAIN = fileURLToPath(new URL('../slot/main.js', import.meta.url))
/** Longer output lines are cut here (a frame's strings are bounded). */
const MAX_LINE_CHARS = 4000

/** What a slot process tells its {@link Slot}. */
export interface SlotProcessEvents {
  message(message: FromSlot): void
  exit(description: string): void
  /** A line the worker printed (stdout, stderr or console). */
  output(line: string): void
}

/** A slot's process as its {@link Slot} drives it: a {@link SlotProcess}, or a fake in tests. */
export interface SlotChild {
  /** The job the process started last, if any. */
  readonly lastStarted: number | undefined
  start(): void
  send(message: ToSlot): void
  /** Kills the process at once; the exit is reported as usual. */
  kill(): void
  /** Stops the process (its exit is not reported); resolves once it has exited. */
  stop(): Promise<void>
}

export interface SlotProcessOptions {
  /** Added to every start of the process (a GPU slot's `CUDA_VISIBLE_DEVICES`). */
  env?: Record<string, string>
  /** The process runs as that user (`--slot-user`), not as the node's. */
  user?: SlotUser | undefined
  log: Logger
}

/**
 * One slot's child process, holding one worker instance. It forwards the
 * slot's messages in order and reports when the process dies.
 */
export class SlotProcess implements SlotChild {
  readonly index: number
  #child: ChildProcess | undefined
  #events: SlotProcessEvents
  #stopping = false
  #lastStarted: number | undefined
  #startedTail: Buffer = Buffer.alloc(0)
  readonly #env: Record<string, string>
  readonly #user: SlotUser | undefined
  readonly #log: Logger

  constructor(index: number, events: SlotProcessEvents, options: SlotProcessOptions) {
    this.index = index
    this.#events = events
    this.#env = options.env ?? {}
    this.#user = options.user
    this.#log = options.log
  }

  /** The job the slot process started last (see STARTED_FD), if any. */
  get lastStarted(): number | undefined {
    return this.#lastStarted
  }

  start(): void {
    this.#stopping = false
    const heapMB = Number(process.env.MESHPOOL_SLOT_MEMORY_MB ?? 0)
    const child = fork(SLOT_MAIN, [], {
      // launchWorkers({ memory }): a V8 heap limit per slot process.
      ...(heapMB > 0 ? { execArgv: [...process.execArgv, `--max-old-space-size=${heapMB}`] } : {}),
      serialization: 'advanced',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc', 'pipe'],
      env: { ...scrubbedEnv(), ...this.#env, MESHPOOL_SLOT: String(this.index) },
      ...(this.#user === undefined ? {} : { uid: this.#user.uid, gid: this.#user.gid }),
    })
    this.#child = child
    this.#lastStarted = undefined
    this.#startedTail = Buffer.alloc(0)
    child.stdio[STARTED_FD]?.on('data', (chunk: Buffer) => this.#onStarted(chunk))
    for (const stream of [child.stdout, child.stderr]) if (stream !== null) this.#readLines(stream)
    child.on('message', (message: FromSlot) => this.#events.message(message))
    // 'close', not 'exit': every message the slot sent before it died is handled first.
    child.once('close', (code, signal) => {
      if (this.#child === child) this.#child = undefined
      const description = signal === null ? `exited with code ${code}` : `was killed by ${signal}`
      this.#log('slot %d %s', this.index, description)
      if (!this.#stopping) this.#events.exit(`slot ${this.index} ${description}`)
    })
    child.on('error', (err) => this.#log.error('slot %d: %s', this.index, err.message))
  }

  #readLines(stream: Readable): void {
    const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })
    lines.on('line', (line) => {
      this.#events.output(line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}…` : line)
    })
  }

  #onStarted(chunk: Buffer): void {
    const bytes = this.#startedTail.length === 0 ? chunk : Buffer.concat([this.#startedTail, chunk])
    const whole = bytes.length - (bytes.length % 8)
    if (whole >= 8) this.#lastStarted = bytes.readDoubleLE(whole - 8)
    this.#startedTail = bytes.subarray(whole)
  }

  send(message: ToSlot): void {
    const child = this.#child
    if (child === undefined || !child.connected) return
    child.send(message, (err) => {
      if (err != null) this.#log('slot %d send failed: %s', this.index, err.message)
    })
  }

  /** Kills the process at once (a job that would not stop); the exit is reported as usual. */
  kill(): void {
    this.#child?.kill('SIGKILL')
  }

  /** Stops the process; resolves once it has exited. */
  async stop(graceMs = 2000): Promise<void> {
    const child = this.#child
    this.#stopping = true
    if (child === undefined || child.exitCode !== null) return
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await exited
    clearTimeout(timer)
  }
}

/** A slot never sees the pool's secret, nor where the node keeps it. */
function scrubbedEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.MESHPOOL_TOKEN
  delete env.MESHPOOL_PASSWORD
  delete env.MESHPOOL_POOL_KEY_FILE
  delete env.MESHPOOL_WEB_TOKEN
  return env
}

import { type ChildProcess, fork } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { Duplex, Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type { Logger } from '@libp2p/interface'
import { BulkReader } from '../slot/bulk-reader.js'
import { BULK_FD, BULK_MIN_BYTES, type FromSlot, STARTED_FD, type ToSlot } from '../slot/protocol.js'
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
      stdio: ['ignore', 'pipe', 'pipe', 'ipc', 'pipe', 'pipe'],
      env: { ...scrubbedEnv(), ...this.#env, MESHPOOL_SLOT: String(this.index) },
      ...(this.#user === undefined ? {} : { uid: this.#user.uid, gid: this.#user.gid }),
    })
    this.#child = child
    this.#lastStarted = undefined
    this.#startedTail = Buffer.alloc(0)
    child.stdio[STARTED_FD]?.on('data', (chunk: Buffer) => this.#onStarted(chunk))
    const bulk = bulkPipe(child)
    bulk?.on('error', () => {}) // a slot that dies mid-read: its exit says so
    const values = bulk === undefined ? undefined : new BulkReader(bulk)
    for (const stream of [child.stdout, child.stderr]) if (stream !== null) this.#readLines(stream)
    // Messages keep their order: one whose results come raw on the bulk pipe holds back those after it.
    let inbox: Promise<void> | undefined
    child.on('message', (message: FromSlot) => {
      if (inbox === undefined && !hasBulk(message)) return this.#events.message(message)
      const previous = inbox ?? Promise.resolve()
      const next = previous.then(() => withBulkValues(message, values)).then((filled) => this.#events.message(filled))
      inbox = next
      void next.finally(() => {
        if (inbox === next) inbox = undefined
      })
    })
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
    const bulk = bulkPipe(child)
    // Big bytes go raw on the bulk pipe, in the order of the messages that name them.
    const raw = (bytes: Uint8Array): number | undefined => {
      if (bytes.byteLength < BULK_MIN_BYTES || bulk == null) return undefined
      bulk.write(bytes)
      return bytes.byteLength
    }
    child.send(withBulk(message, raw), (err) => {
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

/** The message with its big bytes replaced by their count, once `raw` has sent them on the bulk pipe. */
function withBulk(message: ToSlot, raw: (bytes: Uint8Array) => number | undefined): ToSlot {
  if (message.type === 'run') {
    if (!message.jobs.some((job) => job.params.byteLength >= BULK_MIN_BYTES)) return message
    const jobs = message.jobs.map((job) => {
      const bulk = raw(job.params)
      return bulk === undefined ? job : { ...job, params: EMPTY, bulk }
    })
    return { ...message, jobs }
  }
  if (message.type === 'shared' && message.value !== undefined) {
    const bulk = raw(message.value)
    if (bulk !== undefined) return { type: 'shared', hash: message.hash, bulk }
  }
  return message
}

const EMPTY = new Uint8Array(0)

/** The node's end of the slot's bulk pipe (a socket: both ways). */
function bulkPipe(child: ChildProcess): Duplex | undefined {
  return (child.stdio as unknown as Array<Duplex | null | undefined>)[BULK_FD] ?? undefined
}

function hasBulk(message: FromSlot): boolean {
  return message.type === 'results' && message.results.some((r) => r.ok && r.bulk !== undefined)
}

/** A slot's results with their values read off the bulk pipe, where they came raw. */
async function withBulkValues(message: FromSlot, values: BulkReader | undefined): Promise<FromSlot> {
  if (message.type !== 'results' || values === undefined) return message
  const results = await Promise.all(
    message.results.map(async (result) => {
      if (!result.ok || result.bulk === undefined) return result
      const { bulk: _, ...rest } = result
      return { ...rest, value: await values.claim(result.bulk) }
    }),
  )
  return { type: 'results', results }
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

import { type JobOutcome, type JobProgress, type NodeMessage, TickFlush } from '@meshpool/core'

/** A results frame carries at most this many bytes of values (a quarter of MAX_FRAME_BYTES), unless one value alone is more. */
const RESULTS_FRAME_BYTES = 64 * 1024 * 1024

/** Output lines a pool's client is sent per turn of the event loop, at most (a flood is cut, not queued). */
const MAX_OUTPUT_LINES = 10_000

export interface HeadReportsInit {
  send: (message: NodeMessage) => void
  /** Whether the head has welcomed the node on a live connection: results wait until it has. */
  welcomed: () => boolean
  /** The node's own log. */
  onLine?: (line: string) => void
}

/**
 * What a node tells the head of its jobs: their results, their workers' output
 * lines (to the node's own log at once, and to the head for the pool's client)
 * and their progress, each batched into one message per turn of the event loop.
 */
export class HeadReports {
  readonly #send: (message: NodeMessage) => void
  readonly #welcomed: () => boolean
  readonly #onLine: (line: string) => void
  #results: JobOutcome[] = []
  readonly #resultsFlush = new TickFlush(() => this.#sendResults())
  #output = new Map<number, string[]>()
  readonly #outputFlush = new TickFlush(() => this.#sendOutput())
  /** The latest progress per job. */
  readonly #progress = new Map<number, JobProgress>()
  readonly #progressFlush = new TickFlush(() => this.#sendProgress())

  constructor(init: HeadReportsInit) {
    this.#send = init.send
    this.#welcomed = init.welcomed
    this.#onLine = init.onLine ?? (() => {})
  }

  /** A job's outcome: sent with the others of this turn, or kept until the head welcomes the node. */
  result(outcome: JobOutcome): void {
    this.#results.push(outcome)
    this.#resultsFlush.request()
  }

  /** Sends the results held so far, if the head can take them. */
  flushResults(): void {
    this.#resultsFlush.now()
  }

  /** A line for the node's log; with a pool, for that pool's client too. */
  line(line: string, poolId?: number): void {
    this.#onLine(line)
    if (poolId === undefined) return
    const lines = this.#output.get(poolId)
    if (lines === undefined) this.#output.set(poolId, [line])
    else if (lines.length < MAX_OUTPUT_LINES) lines.push(line)
    this.#outputFlush.request()
  }

  /** Sends the output lines held so far now: results go out only after the output printed before them. */
  flushOutput(): void {
    this.#outputFlush.now()
  }

  progress(report: JobProgress): void {
    this.#progress.set(report.jobId, report)
    this.#progressFlush.request()
  }

  #sendResults(): void {
    if (this.#results.length === 0 || !this.#welcomed()) return
    const results = this.#results
    this.#results = []
    this.flushOutput() // a job's output reaches its client before its result
    // Frames of up to RESULTS_FRAME_BYTES of values: many results just under BIG_VALUE_BYTES fit no one frame.
    let batch: JobOutcome[] = []
    let bytes = 0
    for (const outcome of results) {
      const size = outcome.ok ? outcome.value.byteLength : 0
      if (batch.length > 0 && bytes + size > RESULTS_FRAME_BYTES) {
        this.#send({ type: 'results', results: batch })
        batch = []
        bytes = 0
      }
      batch.push(outcome)
      bytes += size
    }
    this.#send({ type: 'results', results: batch })
  }

  #sendOutput(): void {
    if (this.#output.size === 0) return
    const output = this.#output
    this.#output = new Map()
    for (const [id, batch] of output) this.#send({ type: 'output', poolId: id, lines: batch })
  }

  #sendProgress(): void {
    if (this.#progress.size === 0) return
    const progress = [...this.#progress.values()]
    this.#progress.clear()
    this.#send({ type: 'progress', progress })
  }
}

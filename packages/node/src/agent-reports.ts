import type { JobProgress, NodeMessage } from '@meshpool/core'

/** Output lines a pool's client is sent per turn of the event loop, at most (a flood is cut, not queued). */
const MAX_OUTPUT_LINES = 10_000

/**
 * What a node tells beside results: its workers' output lines (to the node's
 * own log at once, and to the head for the pool's client) and its jobs'
 * progress, each batched into one message per turn of the event loop.
 */
export class AgentReports {
  readonly #send: (message: NodeMessage) => void
  readonly #onLine: (line: string) => void
  #output = new Map<number, string[]>()
  #outputScheduled = false
  /** The latest progress per job. */
  #progress = new Map<number, JobProgress>()

  constructor(send: (message: NodeMessage) => void, onLine: (line: string) => void = () => {}) {
    this.#send = send
    this.#onLine = onLine
  }

  /** A line for the node's log; with a pool, for that pool's client too. */
  line(line: string, poolId?: number): void {
    this.#onLine(line)
    if (poolId === undefined) return
    const lines = this.#output.get(poolId)
    if (lines === undefined) this.#output.set(poolId, [line])
    else if (lines.length < MAX_OUTPUT_LINES) lines.push(line)
    if (this.#outputScheduled) return
    this.#outputScheduled = true
    setImmediate(() => this.flushOutput())
  }

  /** Sends the output lines held so far now: results go out only after the output printed before them. */
  flushOutput(): void {
    this.#outputScheduled = false
    if (this.#output.size === 0) return
    const output = this.#output
    this.#output = new Map()
    for (const [id, batch] of output) this.#send({ type: 'output', poolId: id, lines: batch })
  }

  progress(report: JobProgress): void {
    const first = this.#progress.size === 0
    this.#progress.set(report.jobId, report)
    if (!first) return
    setImmediate(() => {
      const progress = [...this.#progress.values()]
      this.#progress.clear()
      this.#send({ type: 'progress', progress })
    })
  }
}

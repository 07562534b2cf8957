import type { SubmittedJob } from '../wire/index.js'

/**
 * Jobs submitted together and not leased yet, kept in columns: a queued job
 * costs its params' bytes and 12 more, where an object per job costs hundreds
 * (a million queued jobs fit in tens of MB). Client ids increase along a run,
 * so finding one is a binary search. Jobs leave from the front, in order;
 * a cancelled one is skipped when its turn comes.
 */
export class QueuedRun {
  /** The client's job ids, increasing. */
  readonly ids: Float64Array
  /** The ledger's id of the first job; the others follow one by one. */
  readonly firstJobId: number
  readonly #ends: Uint32Array
  readonly #bytes: Uint8Array
  readonly #timeouts: Float64Array | undefined
  #cancelled: Set<number> | undefined
  /** Index of the next job to lease. */
  #next = 0
  /** Jobs neither leased nor cancelled. */
  live: number

  /** When the head took the frame (its clock). */
  readonly submittedAt: number

  constructor(jobs: readonly SubmittedJob[], firstJobId: number, submittedAt = 0) {
    this.submittedAt = submittedAt
    const n = jobs.length
    this.ids = new Float64Array(n)
    this.#ends = new Uint32Array(n)
    this.firstJobId = firstJobId
    let size = 0
    let timed = false
    for (const job of jobs) {
      size += job.params.byteLength
      if ((job.timeoutMs ?? 0) > 0) timed = true
    }
    this.#bytes = new Uint8Array(size)
    this.#timeouts = timed ? new Float64Array(n) : undefined
    let at = 0
    for (let i = 0; i < n; i++) {
      const job = jobs[i] as SubmittedJob
      this.ids[i] = job.id
      this.#bytes.set(job.params, at)
      at += job.params.byteLength
      this.#ends[i] = at
      if (this.#timeouts !== undefined) this.#timeouts[i] = job.timeoutMs ?? 0
    }
    this.live = n
  }

  /** The next job to lease, or undefined once none is left. */
  take(): { index: number; clientJobId: number; params: Uint8Array; timeoutMs: number } | undefined {
    while (this.#next < this.ids.length) {
      const index = this.#next++
      if (this.#cancelled?.delete(index) === true) continue
      this.live--
      const start = index === 0 ? 0 : (this.#ends[index - 1] as number)
      return {
        index,
        clientJobId: this.ids[index] as number,
        params: this.#bytes.subarray(start, this.#ends[index]),
        timeoutMs: this.#timeouts?.[index] ?? 0,
      }
    }
    return undefined
  }

  /** Whether the run may hold a client id: its range covers it. */
  covers(clientJobId: number): boolean {
    return (
      this.#next < this.ids.length &&
      clientJobId >= (this.ids[0] as number) &&
      clientJobId <= (this.ids.at(-1) as number)
    )
  }

  /** Index of a job still queued in the run, or -1. */
  indexOf(clientJobId: number): number {
    let lo = this.#next
    let hi = this.ids.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const id = this.ids[mid] as number
      if (id === clientJobId) return this.#cancelled?.has(mid) === true ? -1 : mid
      if (id < clientJobId) lo = mid + 1
      else hi = mid - 1
    }
    return -1
  }

  /** Takes a queued job out of the run. */
  cancel(index: number): void {
    this.#cancelled ??= new Set()
    this.#cancelled.add(index)
    this.live--
  }
}

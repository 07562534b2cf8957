import { errorShape, type LeasedJob, TimeoutError } from '@meshpool/core'
import type { SlotResult } from '../slot/protocol.js'
import { killNotice, type RunningJob } from './slot-deaths.js'
import type { SlotChild } from './slot-process.js'
import type { SlotEvents } from './slot-types.js'

/** How long a job may ignore its aborted ctx.signal before its slot is killed and replaced. */
export const ABORT_GRACE_MS = 1000

/** What the dispatcher reads of a slot's jobs. */
export type SlotJobCounts = Pick<SlotJobs, 'count' | 'timed' | 'handed' | 'busy'>

/**
 * The jobs handed to one slot, in order (the first runs, the others wait their
 * turn in the slot's process), with their timers: a job's timeout, and the
 * grace a job has after its abort before its process is killed.
 */
export class SlotJobs {
  readonly #index: number
  readonly #process: Pick<SlotChild, 'send' | 'kill'>
  readonly #events: Pick<SlotEvents, 'outcome' | 'progress' | 'notice'>
  #running: RunningJob[] = []
  #timed = 0
  #handed = 0

  /** `index`: the slot's, for the node's log; the jobs go to `process`, what becomes of them to `events`. */
  constructor(
    index: number,
    process: Pick<SlotChild, 'send' | 'kill'>,
    events: Pick<SlotEvents, 'outcome' | 'progress' | 'notice'>,
  ) {
    this.#index = index
    this.#process = process
    this.#events = events
  }

  /** Jobs handed to the slot and not finished. */
  get count(): number {
    return this.#running.length
  }

  /** Jobs with a timeout among them: such a job runs alone, so its clock starts when it does. */
  get timed(): number {
    return this.#timed
  }

  /** Whether any of them is still wanted. */
  get busy(): boolean {
    return this.#running.some((r) => !r.abandoned)
  }

  /** Jobs handed to the slot's current process (for maxJobsPerSlot). */
  get handed(): number {
    return this.#handed
  }

  /** A fresh process: it has run no job yet. */
  freshProcess(): void {
    this.#handed = 0
  }

  /** Sends the slot's process jobs to run in order after those it has; a job's timeout starts now. */
  hand(jobs: LeasedJob[]): void {
    this.#handed += jobs.length
    for (const job of jobs) {
      const running: RunningJob = { job, abandoned: false, timer: undefined }
      this.#running.push(running)
      if (job.timeoutMs > 0) {
        this.#timed++
        running.timer = setTimeout(() => this.#timedOut(running), job.timeoutMs)
      }
    }
    this.#process.send({
      type: 'run',
      jobs: jobs.map((job) => ({ jobId: job.jobId, attempt: job.attempt, params: job.params })),
    })
  }

  /** A running job's ctx.progress, for the head (unless the job is abandoned). */
  progress(jobId: number, fraction: number): void {
    const running = this.#running.find((r) => r.job.jobId === jobId)
    if (running === undefined || running.abandoned) return
    this.#events.progress({ jobId, leaseId: running.job.leaseId, fraction })
  }

  /**
   * The slot's results: each job answered for is no longer handed to it, and
   * its outcome goes to the head unless abandoned. `ran` is told how long each took.
   */
  finish(results: SlotResult[], ran: (ms: number) => void): void {
    for (const result of results) {
      const at = this.#running.findIndex((r) => r.job.jobId === result.jobId)
      if (at < 0) continue
      const [running] = this.#running.splice(at, 1) as [RunningJob]
      clearTimeout(running.timer)
      if (running.job.timeoutMs > 0) this.#timed--
      ran(result.ms)
      if (running.abandoned) continue
      const { jobId, leaseId } = running.job
      if (result.ok) this.#events.outcome({ jobId, leaseId, ok: true, value: result.value }, running.job.poolId)
      else this.#events.outcome({ jobId, leaseId, ok: false, error: result.error })
    }
  }

  /** Aborts the jobs still wanted among these. */
  cancel(jobIds: ReadonlySet<number>): void {
    for (const running of this.#running) {
      if (!running.abandoned && jobIds.has(running.job.jobId)) this.abort(running, 'cancel')
    }
  }

  /** Aborts every job still wanted (the node stops: none can be reported any more). */
  cancelAll(): void {
    for (const running of this.#running) if (!running.abandoned) this.abort(running, 'cancel')
  }

  /** Skips the jobs waiting their turn (not started): their ids, to run elsewhere. */
  skipWaiting(): number[] {
    const skipped: number[] = []
    for (const waiting of this.#running.slice(1)) {
      if (waiting.abandoned) continue
      waiting.abandoned = true
      this.#process.send({ type: 'abort', jobId: waiting.job.jobId, reason: 'cancel' })
      skipped.push(waiting.job.jobId)
    }
    return skipped
  }

  /** Clears the jobs' timers: the slot stops. */
  stop(): void {
    for (const running of this.#running) clearTimeout(running.timer)
  }

  /** The slot's process died: its jobs, which it no longer holds. */
  takeAll(): readonly RunningJob[] {
    const all = this.#running
    this.stop()
    this.#running = []
    this.#timed = 0
    return all
  }

  /**
   * Aborts a job handed to the slot: its answer is dropped; if it is running and
   * doesn't stop within the grace period, the slot's process is killed and replaced.
   */
  abort(running: RunningJob, reason: 'timeout' | 'cancel'): void {
    running.abandoned = true
    clearTimeout(running.timer)
    this.#process.send({ type: 'abort', jobId: running.job.jobId, reason })
    running.timer = setTimeout(() => {
      if (this.#running[0] !== running) return
      this.#events.notice(killNotice(this.#index, running.job, reason, ABORT_GRACE_MS))
      this.#process.kill()
    }, ABORT_GRACE_MS)
  }

  #timedOut(running: RunningJob): void {
    if (running.abandoned || !this.#running.includes(running)) return
    const { jobId, leaseId, timeoutMs } = running.job
    const error = new TimeoutError(`run() did not finish within timeoutMs ${timeoutMs}`)
    this.#events.outcome({ jobId, leaseId, ok: false, error: errorShape(error) })
    this.abort(running, 'timeout')
  }
}

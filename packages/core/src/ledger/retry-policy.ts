import { type ErrorShape, errorShape, WorkerLostError } from '../errors.js'
import type { Job, PoolSettings } from './job.js'

/** Attempts before a job whose slot or node keeps being lost fails with WorkerLostError. @default 3 */
export const DEFAULT_MAX_ATTEMPTS = 3
/** Retries of a job whose run() threw. @default 0 */
export const DEFAULT_RETRIES = 0
/** The first retry waits this long; each further one twice as long, up to {@link MAX_RETRY_BACKOFF_MS}. */
export const RETRY_BACKOFF_MS = 100
export const MAX_RETRY_BACKOFF_MS = 10_000

/**
 * When a job that did not finish runs again. A job whose run() threw waits
 * out a backoff while its pool's retries allow; one whose slot or node was
 * lost goes back to the queue until its attempts are used up. It keeps the
 * jobs waiting out their backoff, and is the one place that changes a job's
 * failures.
 */
export class RetryPolicy {
  #waiting: Job[] = []

  /** Jobs waiting out a backoff. */
  get waiting(): number {
    return this.#waiting.length
  }

  /**
   * A job's run() threw `error`: if the pool's retries allow (an abort is never
   * retried), the job waits out its backoff from `now`. Returns whether it does.
   */
  afterFailure(job: Job, error: ErrorShape, settings: PoolSettings, now: number): boolean {
    if (job.failures >= settings.retries || error.name === 'AbortError') return false
    job.failures++
    job.state = 'waiting'
    job.notBefore = now + Math.min(MAX_RETRY_BACKOFF_MS, RETRY_BACKOFF_MS * 2 ** (job.failures - 1))
    this.#waiting.push(job)
    return true
  }

  /**
   * A job's slot or node was lost at `where`. Returns the error to fail it
   * with once it has used up `maxAttempts`; else it may be queued again.
   */
  afterLoss(job: Job, where: string, maxAttempts: number): ErrorShape | undefined {
    job.lostOn ??= []
    job.lostOn.push(where)
    if (job.attempt < maxAttempts) return undefined
    return errorShape(
      new WorkerLostError(
        `the job's worker was lost ${times(job.attempt)} (maxAttempts ${maxAttempts}): ${job.lostOn.join('; ')}`,
      ),
    )
  }

  /** Takes the jobs whose backoff has passed by `now`, newest first (to go onto the front of their queues). */
  due(now: number): Job[] {
    if (this.#waiting.length === 0) return []
    const due = this.#waiting.filter((job) => job.notBefore <= now)
    if (due.length > 0) this.#waiting = this.#waiting.filter((job) => job.notBefore > now)
    return due.reverse()
  }

  /** Takes a waiting job out (cancelled, or won by a late result). */
  remove(job: Job): void {
    this.#waiting = this.#waiting.filter((w) => w !== job)
  }

  /** Takes out every waiting job of a pool. */
  removePool(poolId: number): Job[] {
    const waiting = this.#waiting.filter((job) => job.poolId === poolId)
    if (waiting.length > 0) this.#waiting = this.#waiting.filter((job) => job.poolId !== poolId)
    return waiting
  }
}

/** `once`, `2 times`: how often something happened, in words. */
function times(count: number): string {
  return count === 1 ? 'once' : `${count} times`
}

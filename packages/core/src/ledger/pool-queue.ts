import { Deque } from '../deque.js'
import { type Job, newJob } from './job.js'
import { QueuedRun } from './queued-run.js'

/**
 * One pool's queue (compact runs as submitted, jobs given back at the front)
 * and its jobs that have objects of their own. It keeps the pool's counts of
 * queued and open jobs, and only its own methods change them.
 */
export class PoolQueue {
  readonly poolId: number
  /** Jobs in the order they are leased. */
  #queue = new Deque<Job | QueuedRun>()
  /** Jobs of the pool that have an object of their own, by client id. */
  readonly #jobs = new Map<number, Job>()
  /** Runs with jobs still queued, in submission order: their client ids increase from one to the next. */
  #runs: QueuedRun[] = []
  #lastRunId = Number.NEGATIVE_INFINITY
  #queued = 0
  #open = 0

  constructor(poolId: number) {
    this.poolId = poolId
  }

  /** Jobs waiting to be leased. */
  get queued(): number {
    return this.#queued
  }

  /** Jobs of the pool not yet done: queued, leased or waiting to retry. */
  get open(): number {
    return this.#open
  }

  /** The highest client id in a run so far: a run only takes ids above it. */
  get lastRunId(): number {
    return this.#lastRunId
  }

  /** The job of a client id, if it has an object of its own. */
  job(clientJobId: number): Job | undefined {
    return this.#jobs.get(clientJobId)
  }

  /** Every job of the pool that has an object of its own. */
  jobs(): Job[] {
    return [...this.#jobs.values()]
  }

  /** The run that holds a client id still queued, if any. */
  runOf(clientJobId: number): QueuedRun | undefined {
    for (const run of this.#runs) {
      if (run.covers(clientJobId) && run.indexOf(clientJobId) >= 0) return run
    }
    return undefined
  }

  /** Queues a new job at the back. */
  push(job: Job): void {
    this.#jobs.set(job.clientJobId, job)
    this.#queue.push(job)
    this.#queued++
    this.#open++
  }

  /** Queues a run at the back; its client ids are above {@link lastRunId}. */
  pushRun(run: QueuedRun): void {
    this.#lastRunId = run.ids.at(-1) as number
    this.#runs.push(run)
    this.#queue.push(run)
    this.#queued += run.live
    this.#open += run.live
  }

  /** Queues a job of the pool again, at the front (given back, or to retry). */
  unshift(job: Job): void {
    this.#queue.unshift(job)
    this.#queued++
  }

  /** Takes a queued job out of its run (a cancel). Returns whether the run held it. */
  cancelInRun(clientJobId: number): boolean {
    const run = this.runOf(clientJobId)
    if (run === undefined) return false
    run.cancel(run.indexOf(clientJobId))
    this.#queued--
    this.#open--
    return true
  }

  /** The next queued job, given an object of its own if it comes from a run. */
  take(): Job | undefined {
    for (;;) {
      const item = this.#queue.shift()
      if (item === undefined) return undefined
      if (!(item instanceof QueuedRun)) {
        this.#queued--
        return item
      }
      const next = item.take()
      if (next === undefined) {
        this.#dropRun(item)
        continue
      }
      if (item.live > 0) this.#queue.unshift(item)
      else this.#dropRun(item)
      const { index, clientJobId, params, timeoutMs } = next
      const job = newJob(this.poolId, item.firstJobId + index, clientJobId, params, timeoutMs, item.submittedAt)
      this.#jobs.set(job.clientJobId, job)
      this.#queued--
      return job
    }
  }

  /**
   * Empties the queue: returns the client ids of every job in its runs (they
   * leave the pool) and the queued jobs that have objects of their own (the
   * caller forgets them).
   */
  takeAll(): { fromRuns: number[]; jobs: Job[] } {
    const fromRuns: number[] = []
    const jobs: Job[] = []
    for (const item of this.#queue) {
      if (item instanceof QueuedRun) {
        for (let next = item.take(); next !== undefined; next = item.take()) fromRuns.push(next.clientJobId)
      } else if (item.state === 'queued') jobs.push(item)
    }
    this.#queued = 0
    this.#open -= fromRuns.length
    this.#queue = new Deque()
    this.#runs = []
    return { fromRuns, jobs }
  }

  /** Takes queued jobs that have objects of their own out of the queue (cancelled, or won by a late result). */
  remove(jobs: readonly Job[]): void {
    if (jobs.length === 0) return
    const gone = new Set(jobs)
    const fresh = new Deque<Job | QueuedRun>()
    let removed = 0
    for (const item of this.#queue) {
      if (item instanceof QueuedRun || !gone.has(item)) fresh.push(item)
      else removed++
    }
    this.#queue = fresh
    this.#queued -= removed
  }

  /** The job leaves the pool (done, failed or cancelled). */
  forget(job: Job): void {
    if (this.#jobs.get(job.clientJobId) !== job) return
    this.#jobs.delete(job.clientJobId)
    this.#open--
  }

  #dropRun(run: QueuedRun): void {
    const at = this.#runs.indexOf(run)
    if (at >= 0) this.#runs.splice(at, 1)
  }
}

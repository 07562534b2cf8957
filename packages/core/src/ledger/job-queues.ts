import type { SubmittedJob } from '../wire/index.js'
import { type Job, newJob } from './job.js'
import { PoolQueue } from './pool-queue.js'
import { QueuedRun } from './queued-run.js'

/** Params above this size are kept as they came, not copied into a run. */
const RUN_PARAMS_MAX_BYTES = 4096

/**
 * The open jobs, by ledger id, and the queues of every pool, served round
 * robin so that many clients share the slots fairly. It keeps the count of
 * queued jobs over all pools; each pool's {@link PoolQueue} keeps its own,
 * and every change to a pool goes through `#change`, so the total is always
 * their sum.
 */
export class JobQueues {
  readonly #jobs = new Map<number, Job>()
  readonly #pools = new Map<number, PoolQueue>()
  #nextJobId = 1
  #rotation: number[] = []
  /** Where in the rotation the next lease looks first. */
  #next = 0
  #queued = 0

  has(poolId: number): boolean {
    return this.#pools.has(poolId)
  }

  addPool(poolId: number): void {
    if (this.#pools.has(poolId)) return
    this.#pools.set(poolId, new PoolQueue(poolId))
    this.#rotation.push(poolId)
  }

  /** Forgets a pool, and the jobs of its runs still queued; its jobs with objects the caller forgets first. */
  removePool(poolId: number): void {
    const pool = this.#pools.get(poolId)
    if (pool === undefined) return
    this.#queued -= pool.queued
    this.#pools.delete(poolId)
    this.#rotation = this.#rotation.filter((id) => id !== poolId)
  }

  /** Queued jobs of one pool, or of all pools. */
  queuedCount(poolId?: number): number {
    if (poolId === undefined) return this.#queued
    return this.#pools.get(poolId)?.queued ?? 0
  }

  /** Jobs of a pool not yet done (queued, leased, waiting to retry). */
  openCount(poolId: number): number {
    return this.#pools.get(poolId)?.open ?? 0
  }

  /** A job of the book by its ledger id, once it has an object of its own (a job still in a run has none). */
  get(jobId: number): Job | undefined {
    return this.#jobs.get(jobId)
  }

  /** The job of a pool by its client id, if it has an object of its own. */
  jobOf(poolId: number, clientJobId: number): Job | undefined {
    return this.#pools.get(poolId)?.job(clientJobId)
  }

  /** Every job of a pool that has an object of its own. */
  jobsOf(poolId: number): Job[] {
    return this.#pools.get(poolId)?.jobs() ?? []
  }

  /** Queues a job at the back of its pool's queue. Returns its ledger id; a client id the pool already has keeps its job. */
  submit(poolId: number, clientJobId: number, params: Uint8Array, timeoutMs: number, now: number): number {
    const pool = this.#pool(poolId)
    const known = pool.job(clientJobId)
    if (known !== undefined) return known.jobId
    const run = pool.runOf(clientJobId)
    if (run !== undefined) return run.firstJobId + run.indexOf(clientJobId)
    const job = newJob(poolId, this.#nextJobId++, clientJobId, params, timeoutMs, now)
    this.#jobs.set(job.jobId, job)
    this.#change(pool, (p) => p.push(job))
    return job.jobId
  }

  /**
   * Queues the jobs of one submit frame. Small jobs whose client ids rise
   * above any the pool has had are kept in one compact run; big ones (where an
   * object costs nothing beside the params, and copying them would) and any
   * other id (an honest client never sends one) take the checked path of
   * {@link submit}, so a repeated id still keeps its first job.
   */
  submitMany(poolId: number, jobs: readonly SubmittedJob[], now: number): void {
    const pool = this.#pool(poolId)
    const rising: SubmittedJob[] = []
    const others: SubmittedJob[] = []
    let last = pool.lastRunId
    for (const job of jobs) {
      if (job.id > last && job.params.byteLength <= RUN_PARAMS_MAX_BYTES) {
        rising.push(job)
        last = job.id
      } else others.push(job)
    }
    if (rising.length > 0) {
      const run = new QueuedRun(rising, this.#nextJobId, now)
      this.#nextJobId += rising.length
      this.#change(pool, (p) => p.pushRun(run))
    }
    for (const job of others) this.submit(poolId, job.id, job.params, job.timeoutMs ?? 0, now)
  }

  /** Queues a job again at the front of its pool's queue. False when its pool is gone. */
  unshift(job: Job): boolean {
    const pool = this.#pools.get(job.poolId)
    if (pool === undefined) return false
    this.#change(pool, (p) => p.unshift(job))
    return true
  }

  /** Takes a queued job out of its pool's runs (a cancel). Returns whether a run held it. */
  cancelInRun(poolId: number, clientJobId: number): boolean {
    const pool = this.#pools.get(poolId)
    return pool !== undefined && this.#change(pool, (p) => p.cancelInRun(clientJobId))
  }

  /** Takes queued jobs that have objects of their own out of their pool's queue. */
  remove(poolId: number, jobs: readonly Job[]): void {
    const pool = this.#pools.get(poolId)
    if (pool !== undefined) this.#change(pool, (p) => p.remove(jobs))
  }

  /** Empties a pool's queue: the client ids of the jobs in its runs, and its queued jobs with objects. */
  takeAll(poolId: number): { fromRuns: number[]; jobs: Job[] } {
    const pool = this.#pools.get(poolId)
    if (pool === undefined) return { fromRuns: [], jobs: [] }
    return this.#change(pool, (p) => p.takeAll())
  }

  /** The job leaves the book (done, failed or cancelled). */
  forget(job: Job): void {
    this.#jobs.delete(job.jobId)
    this.#pools.get(job.poolId)?.forget(job)
  }

  /**
   * The next queued job, taking pools in turn from where the last one was
   * taken, of a pool `canRun` allows; undefined once a whole turn finds none.
   */
  take(canRun: (poolId: number) => boolean): Job | undefined {
    let idle = 0
    while (this.#queued > 0 && idle < this.#rotation.length) {
      if (this.#next >= this.#rotation.length) this.#next = 0
      const poolId = this.#rotation[this.#next++] as number
      const pool = this.#pools.get(poolId) as PoolQueue
      const job = canRun(poolId) ? this.#change(pool, (p) => p.take()) : undefined
      if (job === undefined) {
        idle++
        continue
      }
      this.#jobs.set(job.jobId, job) // a job from a run gets its object now
      return job
    }
    return undefined
  }

  #pool(poolId: number): PoolQueue {
    const pool = this.#pools.get(poolId)
    if (pool === undefined) throw new Error(`pool ${poolId} is not open`)
    return pool
  }

  /** Every change to a pool's queue: the total follows the pool's own count. */
  #change<T>(pool: PoolQueue, change: (pool: PoolQueue) => T): T {
    const before = pool.queued
    const result = change(pool)
    this.#queued += pool.queued - before
    return result
  }
}

import { Deque } from './deque.js'
import { QueuedRun } from './queued-run.js'

/** Where a job is in its life. Done and failed jobs leave the ledger once routed. */
export type JobState = 'queued' | 'leased' | 'waiting' | 'done' | 'failed'

/** How a pool's jobs are leased and retried. */
export interface PoolSettings {
  maxAttempts: number
  retries: number
  leaseMs: number
}

/** A job with an object of its own: leased at least once, or submitted alone. */
export interface Job {
  jobId: number
  poolId: number
  /** The id the client gave the job; results are routed back with it. */
  clientJobId: number
  params: Uint8Array
  /** When the head took it (its clock), for the job latency metric. */
  submittedAt: number
  /** Run time limit in ms; 0 for none. */
  timeoutMs: number
  state: JobState
  /** Times leased. */
  attempt: number
  /** Times run() threw, for retries. */
  failures: number
  leaseId: number
  nodeId: string | undefined
  expiresAt: number
  /** When a waiting retry may run again. */
  notBefore: number
  /** Leases that expired: their holders may still deliver (first result wins). Made when first needed. */
  pastLeases: Array<{ nodeId: string; leaseId: number }> | undefined
  /** Where the job's worker was lost, for the WorkerLostError message. Made when first needed. */
  lostOn: string[] | undefined
}

export function newJob(
  poolId: number,
  jobId: number,
  clientJobId: number,
  params: Uint8Array,
  timeoutMs: number,
  submittedAt: number,
): Job {
  return {
    jobId,
    poolId,
    clientJobId,
    params,
    submittedAt,
    timeoutMs,
    state: 'queued',
    attempt: 0,
    failures: 0,
    leaseId: 0,
    nodeId: undefined,
    expiresAt: 0,
    notBefore: 0,
    pastLeases: undefined,
    lostOn: undefined,
  }
}

/** Remembers a lease that ended without a result: its holder may still deliver one. */
export function pastLease(job: Job, nodeId: string): void {
  job.pastLeases ??= []
  job.pastLeases.push({ nodeId, leaseId: job.leaseId })
}

/**
 * A pool's part of the ledger: its queue (compact runs as submitted, jobs
 * given back at the front) and its jobs that have objects of their own.
 */
export class PoolBook {
  readonly poolId: number
  readonly settings: PoolSettings
  /** Jobs in the order they are leased. */
  queue = new Deque<Job | QueuedRun>()
  /** Jobs of the pool that have an object of their own, by client id. */
  readonly jobs = new Map<number, Job>()
  /** Runs with jobs still queued, in submission order: their client ids increase from one to the next. */
  runs: QueuedRun[] = []
  /** The highest client id in a run so far. */
  lastRunId = Number.NEGATIVE_INFINITY
  queued = 0
  /** Jobs of the pool not yet done: queued, leased or waiting to retry. */
  open = 0

  constructor(poolId: number, settings: PoolSettings) {
    this.poolId = poolId
    this.settings = settings
  }

  /** The run that holds a client id still queued, if any. */
  runOf(clientJobId: number): QueuedRun | undefined {
    for (const run of this.runs) {
      if (run.covers(clientJobId) && run.indexOf(clientJobId) >= 0) return run
    }
    return undefined
  }

  /** The next queued job, given an object of its own (in {@link jobs}) if it comes from a run. */
  takeQueued(): Job | undefined {
    for (;;) {
      const item = this.queue.shift()
      if (item === undefined) return undefined
      if (!(item instanceof QueuedRun)) return item
      const next = item.take()
      if (next === undefined) {
        this.#dropRun(item)
        continue
      }
      if (item.live > 0) this.queue.unshift(item)
      else this.#dropRun(item)
      const { index, clientJobId, params, timeoutMs } = next
      const job = newJob(this.poolId, item.firstJobId + index, clientJobId, params, timeoutMs, item.submittedAt)
      this.jobs.set(job.clientJobId, job)
      return job
    }
  }

  /**
   * Empties the queue: returns the client ids of every job in its runs and the
   * queued jobs that have objects of their own.
   */
  takeAll(): { fromRuns: number[]; jobs: Job[] } {
    const fromRuns: number[] = []
    const jobs: Job[] = []
    for (const item of this.queue) {
      if (item instanceof QueuedRun) {
        for (let next = item.take(); next !== undefined; next = item.take()) fromRuns.push(next.clientJobId)
      } else if (item.state === 'queued') jobs.push(item)
    }
    this.queued = 0
    this.queue = new Deque()
    this.runs = []
    return { fromRuns, jobs }
  }

  /** Drops from the queue the jobs that have left it (cancelled, or won by a late result). */
  rebuild(): void {
    const fresh = new Deque<Job | QueuedRun>()
    for (const item of this.queue) if (item instanceof QueuedRun || item.state === 'queued') fresh.push(item)
    this.queue = fresh
  }

  #dropRun(run: QueuedRun): void {
    const at = this.runs.indexOf(run)
    if (at >= 0) this.runs.splice(at, 1)
  }
}

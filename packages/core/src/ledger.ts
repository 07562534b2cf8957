import { Deque } from './deque.js'
import { errorShape, WorkerLostError } from './errors.js'
import type { ClientOutcome, JobOutcome, LeasedJob } from './wire.js'

/** Where a job is in its life. Done and failed jobs leave the ledger once routed. */
export type JobState = 'queued' | 'leased' | 'done' | 'failed'

/** @default 3 */
export const DEFAULT_MAX_ATTEMPTS = 3

export interface JobLedgerInit {
  /** The clock, injected so tests drive it without sleeping. */
  now: () => number
  /** Attempts before a job whose worker keeps dying fails with WorkerLostError. */
  maxAttempts?: number
}

interface Job {
  jobId: number
  poolId: number
  /** The id the client gave the job; results are routed back with it. */
  clientJobId: number
  params: Uint8Array
  state: JobState
  attempt: number
  leaseId: number
  nodeId: string | undefined
  leasedAt: number
  /** Where the job's worker died, for the WorkerLostError message. */
  lostOn: string[]
}

/** A finished job, ready to route to its pool's client. */
export interface RoutedOutcome {
  poolId: number
  outcome: ClientOutcome
}

export interface LedgerCounts {
  queued: number
  leased: number
  done: number
  failed: number
}

/**
 * The head's book of jobs: every job submitted by a pool's client is queued,
 * leased to one node at a time, and leaves the book once its outcome is routed.
 * Pools are served round robin, so many clients share the slots fairly.
 * Pure: no I/O, no timers; time comes from `now`.
 */
export class JobLedger {
  readonly #now: () => number
  readonly #maxAttempts: number
  readonly #jobs = new Map<number, Job>()
  readonly #queues = new Map<number, Deque<Job>>()
  readonly #byNode = new Map<string, Set<Job>>()
  #rotation: number[] = []
  #next = 0
  #nextJobId = 1
  #nextLeaseId = 1
  #queued = 0
  #done = 0
  #failed = 0

  constructor(init: JobLedgerInit) {
    this.#now = init.now
    this.#maxAttempts = init.maxAttempts ?? DEFAULT_MAX_ATTEMPTS
  }

  /** Registers a pool (one per client connection). */
  addPool(poolId: number): void {
    if (this.#queues.has(poolId)) return
    this.#queues.set(poolId, new Deque())
    this.#rotation.push(poolId)
  }

  /**
   * Forgets a pool whose client left: its queued jobs are dropped and its
   * leased jobs are returned so the caller can cancel them on their nodes.
   */
  removePool(poolId: number): Array<{ jobId: number; nodeId: string }> {
    const queue = this.#queues.get(poolId)
    if (queue === undefined) return []
    this.#queued -= queue.length
    for (const job of queue) this.#jobs.delete(job.jobId)
    this.#queues.delete(poolId)
    this.#rotation = this.#rotation.filter((id) => id !== poolId)
    const leased: Array<{ jobId: number; nodeId: string }> = []
    for (const job of this.#jobs.values()) {
      if (job.poolId !== poolId || job.nodeId === undefined) continue
      leased.push({ jobId: job.jobId, nodeId: job.nodeId })
      this.#byNode.get(job.nodeId)?.delete(job)
      this.#jobs.delete(job.jobId)
    }
    return leased
  }

  /** Queues a job of a pool. Returns its ledger id. */
  submit(poolId: number, clientJobId: number, params: Uint8Array): number {
    const queue = this.#queues.get(poolId)
    if (queue === undefined) throw new Error(`pool ${poolId} is not open`)
    const job: Job = {
      jobId: this.#nextJobId++,
      poolId,
      clientJobId,
      params,
      state: 'queued',
      attempt: 0,
      leaseId: 0,
      nodeId: undefined,
      leasedAt: 0,
      lostOn: [],
    }
    this.#jobs.set(job.jobId, job)
    queue.push(job)
    this.#queued++
    return job.jobId
  }

  /** Leases up to `max` queued jobs to a node, taking pools in turn. */
  lease(nodeId: string, max: number, updateSeqOf: (poolId: number) => number = () => 0): LeasedJob[] {
    const out: LeasedJob[] = []
    if (this.#queued === 0 || max <= 0) return out
    let held = this.#byNode.get(nodeId)
    if (held === undefined) {
      held = new Set()
      this.#byNode.set(nodeId, held)
    }
    const now = this.#now()
    let idle = 0
    while (out.length < max && this.#queued > 0 && idle < this.#rotation.length) {
      if (this.#next >= this.#rotation.length) this.#next = 0
      const poolId = this.#rotation[this.#next++] as number
      const job = this.#queues.get(poolId)?.shift()
      if (job === undefined) {
        idle++
        continue
      }
      idle = 0
      this.#queued--
      job.state = 'leased'
      job.attempt++
      job.leaseId = this.#nextLeaseId++
      job.nodeId = nodeId
      job.leasedAt = now
      held.add(job)
      out.push({
        jobId: job.jobId,
        leaseId: job.leaseId,
        poolId,
        attempt: job.attempt,
        updateSeq: updateSeqOf(poolId),
        params: job.params,
      })
    }
    return out
  }

  /**
   * Takes a node's report on a lease. Returns the outcome to route to the
   * job's client, or undefined when the report is stale or foreign (a job
   * already finished, a lease the node does not hold): those are dropped.
   * A report of a lost slot puts the job back in the queue (or fails it once
   * it has used up its attempts).
   */
  complete(nodeId: string, report: JobOutcome): RoutedOutcome | undefined {
    const job = this.#jobs.get(report.jobId)
    if (job === undefined || job.state !== 'leased') return undefined
    if (job.nodeId !== nodeId || job.leaseId !== report.leaseId) return undefined
    this.#byNode.get(nodeId)?.delete(job)
    if (!report.ok && report.lost === true) {
      return this.#requeue(job, `${nodeId} (slot died: ${report.error.message})`)
    }
    return this.#finish(
      job,
      report.ok
        ? { id: job.clientJobId, ok: true, value: report.value }
        : {
            id: job.clientJobId,
            ok: false,
            error: report.error,
            where: nodeId,
          },
    )
  }

  /**
   * A node left: every job it held goes back to the front of its pool's queue
   * at once (or fails, if it has used up its attempts). Returns the failures.
   */
  releaseNode(nodeId: string): RoutedOutcome[] {
    const held = this.#byNode.get(nodeId)
    this.#byNode.delete(nodeId)
    const failed: RoutedOutcome[] = []
    if (held === undefined) return failed
    // Newest first: each one goes to the front, so the oldest ends up leased first again.
    for (const job of [...held].reverse()) {
      const routed = this.#requeue(job, `${nodeId} (node disconnected)`)
      if (routed !== undefined) failed.push(routed)
    }
    return failed
  }

  /** The state of a job still in the book, or undefined once it has left. */
  stateOf(jobId: number): JobState | undefined {
    return this.#jobs.get(jobId)?.state
  }

  /** Jobs leased to a node right now. */
  heldBy(nodeId: string): number {
    return this.#byNode.get(nodeId)?.size ?? 0
  }

  /** Queued jobs of one pool, or of all pools. */
  queuedCount(poolId?: number): number {
    if (poolId === undefined) return this.#queued
    return this.#queues.get(poolId)?.length ?? 0
  }

  counts(): LedgerCounts {
    return { queued: this.#queued, leased: this.#jobs.size - this.#queued, done: this.#done, failed: this.#failed }
  }

  #requeue(job: Job, where: string): RoutedOutcome | undefined {
    job.lostOn.push(where)
    job.nodeId = undefined
    if (job.attempt >= this.#maxAttempts) {
      const error = new WorkerLostError(
        `the job's worker was lost ${job.attempt} times (maxAttempts ${this.#maxAttempts}): ${job.lostOn.join('; ')}`,
      )
      return this.#finish(job, { id: job.clientJobId, ok: false, error: errorShape(error) })
    }
    const queue = this.#queues.get(job.poolId)
    if (queue === undefined) {
      this.#jobs.delete(job.jobId)
      return undefined
    }
    job.state = 'queued'
    queue.unshift(job)
    this.#queued++
    return undefined
  }

  #finish(job: Job, outcome: ClientOutcome): RoutedOutcome {
    job.state = outcome.ok ? 'done' : 'failed'
    if (outcome.ok) this.#done++
    else this.#failed++
    this.#jobs.delete(job.jobId)
    return { poolId: job.poolId, outcome }
  }
}

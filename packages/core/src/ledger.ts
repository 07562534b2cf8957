import { Deque } from './deque.js'
import { errorShape, WorkerLostError } from './errors.js'
import type { ClientOutcome, JobOutcome, LeasedJob } from './wire.js'

/** Where a job is in its life. Done and failed jobs leave the ledger once routed. */
export type JobState = 'queued' | 'leased' | 'waiting' | 'done' | 'failed'

/** Attempts before a job whose worker keeps dying fails with WorkerLostError. @default 3 */
export const DEFAULT_MAX_ATTEMPTS = 3
/** How long a lease lasts without renewal. @default 3000 */
export const DEFAULT_LEASE_MS = 3000
/** Retries of a job whose run() threw. @default 0 */
export const DEFAULT_RETRIES = 0
/** The first retry waits this long; each further one twice as long, up to {@link MAX_RETRY_BACKOFF_MS}. */
export const RETRY_BACKOFF_MS = 100
export const MAX_RETRY_BACKOFF_MS = 10_000

/** How a pool's jobs are leased and retried. */
export interface PoolSettings {
  maxAttempts: number
  retries: number
  leaseMs: number
}

export interface JobLedgerInit {
  /** The clock, injected so tests drive it without sleeping. */
  now: () => number
  /** Defaults for pools that don't say. */
  maxAttempts?: number
  /** Randomness for lease ids, injected for tests. @default Math.random */
  random?: () => number
}

interface Job {
  jobId: number
  poolId: number
  /** The id the client gave the job; results are routed back with it. */
  clientJobId: number
  params: Uint8Array
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
  /** Leases that expired: their holders may still deliver (first result wins). */
  pastLeases: Array<{ nodeId: string; leaseId: number }>
  /** Where the job's worker was lost, for the WorkerLostError message. */
  lostOn: string[]
}

/** A finished job, ready to route to its pool's client. */
export interface RoutedOutcome {
  poolId: number
  outcome: ClientOutcome
  /** A late result won: the node now running the job should stop it. */
  cancelOn?: { nodeId: string; jobId: number }
}

/** A leased job that must be stopped on its node. */
export interface LeaseToCancel {
  nodeId: string
  jobId: number
}

export interface LedgerCounts {
  queued: number
  leased: number
  waiting: number
  done: number
  failed: number
  expired: number
}

/**
 * The head's book of jobs: every job submitted by a pool's client is queued,
 * leased to one node at a time, and leaves the book once its outcome is
 * routed. Leases expire unless their node renews them; a late result from an
 * expired lease still wins if the job is open. Pools are served round robin,
 * so many clients share the slots fairly. Pure: no I/O, no timers; time comes
 * from `now`, and the head calls {@link JobLedger.tick} to expire leases.
 */
export class JobLedger {
  readonly #now: () => number
  readonly #defaults: PoolSettings
  readonly #jobs = new Map<number, Job>()
  readonly #byClientId = new Map<number, Map<number, Job>>()
  readonly #queues = new Map<number, Deque<Job>>()
  readonly #settings = new Map<number, PoolSettings>()
  readonly #byNode = new Map<string, Set<Job>>()
  #waiting: Job[] = []
  #rotation: number[] = []
  #next = 0
  #nextJobId = 1
  #nextLeaseId: number
  #queued = 0
  #done = 0
  #failed = 0
  #expired = 0

  constructor(init: JobLedgerInit) {
    this.#now = init.now
    this.#defaults = {
      maxAttempts: init.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      retries: DEFAULT_RETRIES,
      leaseMs: DEFAULT_LEASE_MS,
    }
    // Lease ids start at a random point so a restarted head never accepts a result for a lease of its past life.
    this.#nextLeaseId = 1 + Math.floor((init.random ?? Math.random)() * 2 ** 40)
  }

  /** Registers a pool (one per client connection) with its settings. */
  addPool(poolId: number, settings: Partial<PoolSettings> = {}): void {
    if (this.#queues.has(poolId)) return
    this.#queues.set(poolId, new Deque())
    this.#byClientId.set(poolId, new Map())
    this.#settings.set(poolId, {
      maxAttempts: settings.maxAttempts ?? this.#defaults.maxAttempts,
      retries: settings.retries ?? this.#defaults.retries,
      leaseMs: settings.leaseMs ?? this.#defaults.leaseMs,
    })
    this.#rotation.push(poolId)
  }

  /** The settings of a pool, or the defaults. */
  settingsOf(poolId: number): PoolSettings {
    return this.#settings.get(poolId) ?? this.#defaults
  }

  /**
   * Forgets a pool whose client left: its queued jobs are dropped and its
   * leased jobs are returned so the caller can cancel them on their nodes.
   */
  removePool(poolId: number): LeaseToCancel[] {
    const jobs = this.#byClientId.get(poolId)
    if (jobs === undefined) return []
    const leased = this.#drop([...jobs.values()])
    this.#queues.delete(poolId)
    this.#settings.delete(poolId)
    this.#byClientId.delete(poolId)
    this.#rotation = this.#rotation.filter((id) => id !== poolId)
    return leased
  }

  /** Queues a job of a pool. Returns its ledger id. */
  submit(poolId: number, clientJobId: number, params: Uint8Array, timeoutMs = 0): number {
    const queue = this.#queues.get(poolId)
    const byClientId = this.#byClientId.get(poolId)
    if (queue === undefined || byClientId === undefined) throw new Error(`pool ${poolId} is not open`)
    if (byClientId.has(clientJobId)) return (byClientId.get(clientJobId) as Job).jobId
    const job: Job = {
      jobId: this.#nextJobId++,
      poolId,
      clientJobId,
      params,
      timeoutMs,
      state: 'queued',
      attempt: 0,
      failures: 0,
      leaseId: 0,
      nodeId: undefined,
      expiresAt: 0,
      notBefore: 0,
      pastLeases: [],
      lostOn: [],
    }
    this.#jobs.set(job.jobId, job)
    byClientId.set(clientJobId, job)
    queue.push(job)
    this.#queued++
    return job.jobId
  }

  /**
   * Cancels jobs of a pool by the client's ids: queued and waiting ones leave
   * at once; leased ones are returned so the caller can stop them on their nodes.
   */
  cancel(poolId: number, clientJobIds: Iterable<number>): LeaseToCancel[] {
    const byClientId = this.#byClientId.get(poolId)
    if (byClientId === undefined) return []
    const jobs: Job[] = []
    for (const id of clientJobIds) {
      const job = byClientId.get(id)
      if (job !== undefined) jobs.push(job)
    }
    return this.#drop(jobs)
  }

  /** Leases up to `max` queued jobs to a node, taking pools in turn. */
  lease(nodeId: string, max: number, updateSeqOf: (poolId: number) => number = () => 0): LeasedJob[] {
    const out: LeasedJob[] = []
    if (this.#queued === 0 || max <= 0) return out
    const held = this.#held(nodeId)
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
      job.expiresAt = now + this.settingsOf(poolId).leaseMs
      held.add(job)
      out.push({
        jobId: job.jobId,
        leaseId: job.leaseId,
        poolId,
        attempt: job.attempt,
        updateSeq: updateSeqOf(poolId),
        timeoutMs: job.timeoutMs,
        params: job.params,
      })
    }
    return out
  }

  /** A node's heartbeat: every lease it holds now runs for its pool's leaseMs from now. */
  renew(nodeId: string): number {
    const held = this.#byNode.get(nodeId)
    if (held === undefined) return 0
    const now = this.#now()
    for (const job of held) job.expiresAt = now + this.settingsOf(job.poolId).leaseMs
    return held.size
  }

  /**
   * Takes a node's report on a lease. Returns the outcome to route to the
   * job's client, or undefined when the report changes nothing: a job already
   * finished, a lease the node was never given, or a failure on an expired
   * lease (the job is already on its way elsewhere). A result from an expired
   * lease wins if the job is still open. A report of a lost slot puts the job
   * back in the queue (or fails it once it has used up its attempts); an
   * exception is retried with backoff while the pool's `retries` allow.
   */
  complete(nodeId: string, report: JobOutcome): RoutedOutcome | undefined {
    const job = this.#jobs.get(report.jobId)
    if (job === undefined) return undefined
    const current = job.state === 'leased' && job.nodeId === nodeId && job.leaseId === report.leaseId
    if (!current) {
      const past = job.pastLeases.some((l) => l.nodeId === nodeId && l.leaseId === report.leaseId)
      if (!past || !report.ok) return undefined
      const holder = job.state === 'leased' ? job.nodeId : undefined
      if (job.state === 'queued') this.#unqueue(job)
      if (job.state === 'waiting') this.#waiting = this.#waiting.filter((w) => w !== job)
      this.#unlease(job)
      const routed = this.#finish(job, { id: job.clientJobId, ok: true, value: report.value })
      return holder === undefined ? routed : { ...routed, cancelOn: { nodeId: holder, jobId: job.jobId } }
    }
    this.#unlease(job)
    if (report.ok) return this.#finish(job, { id: job.clientJobId, ok: true, value: report.value })
    if (report.lost === true) return this.#requeue(job, `${nodeId} (slot died: ${report.error.message})`)
    const settings = this.settingsOf(job.poolId)
    if (job.failures < settings.retries && report.error.name !== 'AbortError') {
      job.failures++
      job.state = 'waiting'
      job.notBefore = this.#now() + Math.min(MAX_RETRY_BACKOFF_MS, RETRY_BACKOFF_MS * 2 ** (job.failures - 1))
      this.#waiting.push(job)
      return undefined
    }
    return this.#finish(job, { id: job.clientJobId, ok: false, error: report.error, where: nodeId })
  }

  /** A draining node gives back jobs it has not started: they go back to the front, no attempt counted. */
  release(nodeId: string, jobIds: Iterable<number>): number {
    let released = 0
    // Newest first onto the front, so they are leased again in their old order.
    for (const jobId of [...jobIds].reverse()) {
      const job = this.#jobs.get(jobId)
      if (job === undefined || job.state !== 'leased' || job.nodeId !== nodeId) continue
      this.#unlease(job)
      job.attempt--
      this.#enqueueFront(job)
      released++
    }
    return released
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
    // Newest first onto the front, so the oldest is leased first again.
    for (const job of [...held].reverse()) {
      // If the node comes back on a new connection, what it finished meanwhile still counts.
      job.pastLeases.push({ nodeId, leaseId: job.leaseId })
      job.nodeId = undefined
      const routed = this.#requeue(job, `${nodeId} (node disconnected)`)
      if (routed !== undefined) failed.push(routed)
    }
    return failed
  }

  /**
   * Moves time on: leases not renewed in time expire (their jobs go back to
   * the queue, or fail once out of attempts), and retries whose backoff has
   * passed are queued again. Returns the failures to route.
   */
  tick(): RoutedOutcome[] {
    const now = this.#now()
    const failed: RoutedOutcome[] = []
    for (const [nodeId, held] of this.#byNode) {
      const expired = [...held].filter((job) => job.expiresAt <= now)
      for (const job of expired.reverse()) {
        this.#expired++
        job.pastLeases.push({ nodeId, leaseId: job.leaseId })
        this.#unlease(job)
        const routed = this.#requeue(job, `${nodeId} (lease expired: the node stopped renewing it)`)
        if (routed !== undefined) failed.push(routed)
      }
    }
    if (this.#waiting.length > 0) {
      const due = this.#waiting.filter((job) => job.notBefore <= now)
      if (due.length > 0) {
        this.#waiting = this.#waiting.filter((job) => job.notBefore > now)
        for (const job of due.reverse()) this.#enqueueFront(job)
      }
    }
    return failed
  }

  /** Nodes holding a lease that has run out (they stopped renewing): {@link tick} will take their jobs. */
  overdueNodes(): string[] {
    const now = this.#now()
    const overdue: string[] = []
    for (const [nodeId, held] of this.#byNode) {
      for (const job of held) {
        if (job.expiresAt <= now) {
          overdue.push(nodeId)
          break
        }
      }
    }
    return overdue
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
    const waiting = this.#waiting.length
    return {
      queued: this.#queued,
      leased: this.#jobs.size - this.#queued - waiting,
      waiting,
      done: this.#done,
      failed: this.#failed,
      expired: this.#expired,
    }
  }

  #held(nodeId: string): Set<Job> {
    let held = this.#byNode.get(nodeId)
    if (held === undefined) {
      held = new Set()
      this.#byNode.set(nodeId, held)
    }
    return held
  }

  #unlease(job: Job): void {
    if (job.nodeId !== undefined) this.#byNode.get(job.nodeId)?.delete(job)
    job.nodeId = undefined
  }

  #enqueueFront(job: Job): void {
    const queue = this.#queues.get(job.poolId)
    if (queue === undefined) {
      this.#forget(job)
      return
    }
    job.state = 'queued'
    queue.unshift(job)
    this.#queued++
  }

  #requeue(job: Job, where: string): RoutedOutcome | undefined {
    job.lostOn.push(where)
    const maxAttempts = this.settingsOf(job.poolId).maxAttempts
    if (job.attempt >= maxAttempts) {
      const error = new WorkerLostError(
        `the job's worker was lost ${job.attempt} times (maxAttempts ${maxAttempts}): ${job.lostOn.join('; ')}`,
      )
      return this.#finish(job, { id: job.clientJobId, ok: false, error: errorShape(error) })
    }
    this.#enqueueFront(job)
    return undefined
  }

  /** Takes jobs out of the book (a cancel); returns those leased, to stop on their nodes. */
  #drop(jobs: Job[]): LeaseToCancel[] {
    const leased: LeaseToCancel[] = []
    let queuedDropped = false
    for (const job of jobs) {
      if (job.state === 'leased' && job.nodeId !== undefined) leased.push({ nodeId: job.nodeId, jobId: job.jobId })
      if (job.state === 'queued') {
        this.#queued--
        queuedDropped = true
      }
      if (job.state === 'waiting') this.#waiting = this.#waiting.filter((w) => w !== job)
      this.#unlease(job)
      job.state = 'failed'
      this.#forget(job)
    }
    if (queuedDropped) {
      for (const [poolId, queue] of this.#queues) {
        if (jobs.some((job) => job.poolId === poolId)) this.#queues.set(poolId, rebuilt(queue))
      }
    }
    return leased
  }

  /** Takes one queued job out of its pool's queue (a late result won it). */
  #unqueue(job: Job): void {
    job.state = 'failed'
    this.#queued--
    const queue = this.#queues.get(job.poolId)
    if (queue !== undefined) this.#queues.set(job.poolId, rebuilt(queue))
  }

  #forget(job: Job): void {
    this.#jobs.delete(job.jobId)
    this.#byClientId.get(job.poolId)?.delete(job.clientJobId)
  }

  #finish(job: Job, outcome: ClientOutcome): RoutedOutcome {
    job.state = outcome.ok ? 'done' : 'failed'
    if (outcome.ok) this.#done++
    else this.#failed++
    this.#forget(job)
    return { poolId: job.poolId, outcome }
  }
}

/** A queue without the jobs that have left the book (cancelled while queued). */
function rebuilt(queue: Deque<Job>): Deque<Job> {
  const fresh = new Deque<Job>()
  for (const job of queue) if (job.state === 'queued') fresh.push(job)
  return fresh
}

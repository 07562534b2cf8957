import { type ErrorShape, errorShape, WorkerLostError } from './errors.js'
import { type Job, type JobState, newJob, PoolBook, type PoolSettings, pastLease } from './pool-book.js'
import { QueuedRun } from './queued-run.js'
import type { ClientOutcome, JobOutcome, LeasedJob, SubmittedJob } from './wire.js'

export type { JobState, PoolSettings } from './pool-book.js'

/** Attempts before a job whose worker keeps dying fails with WorkerLostError. @default 3 */
export const DEFAULT_MAX_ATTEMPTS = 3
/** How long a lease lasts without renewal. @default 3000 */
export const DEFAULT_LEASE_MS = 3000
/** Retries of a job whose run() threw. @default 0 */
export const DEFAULT_RETRIES = 0
/** The first retry waits this long; each further one twice as long, up to {@link MAX_RETRY_BACKOFF_MS}. */
export const RETRY_BACKOFF_MS = 100
export const MAX_RETRY_BACKOFF_MS = 10_000

/** Params above this size are kept as they came, not copied into a run. */
const RUN_PARAMS_MAX_BYTES = 4096

export interface JobLedgerInit {
  /** The clock, injected so tests drive it without sleeping. */
  now: () => number
  /** Defaults for pools that don't say. */
  maxAttempts?: number
  /** Randomness for lease ids, injected for tests. @default Math.random */
  random?: () => number
}

/** A finished job, ready to route to its pool's client. */
export interface RoutedOutcome {
  poolId: number
  outcome: ClientOutcome
  /** A late result won: the node now running the job should stop it. */
  cancelOn?: { nodeId: string; jobId: number }
  /** From submit to this outcome, in ms (the head's clock). */
  ms?: number
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
  /** Leases given since the start: first attempts and retries alike. */
  leases: number
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
  readonly #pools = new Map<number, PoolBook>()
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
  #leases = 0

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
    if (this.#pools.has(poolId)) return
    this.#pools.set(
      poolId,
      new PoolBook(poolId, {
        maxAttempts: settings.maxAttempts ?? this.#defaults.maxAttempts,
        retries: settings.retries ?? this.#defaults.retries,
        leaseMs: settings.leaseMs ?? this.#defaults.leaseMs,
      }),
    )
    this.#rotation.push(poolId)
  }

  /** The settings of a pool, or the defaults. */
  settingsOf(poolId: number): PoolSettings {
    return this.#pools.get(poolId)?.settings ?? this.#defaults
  }

  /**
   * Forgets a pool whose client left: its queued jobs are dropped and its
   * leased jobs are returned so the caller can cancel them on their nodes.
   */
  removePool(poolId: number): LeaseToCancel[] {
    const pool = this.#pools.get(poolId)
    if (pool === undefined) return []
    const leased = this.#drop(pool, [...pool.jobs.values()])
    for (const run of pool.runs) this.#queued -= run.live
    this.#pools.delete(poolId)
    this.#rotation = this.#rotation.filter((id) => id !== poolId)
    return leased
  }

  /** Queues a job of a pool. Returns its ledger id; a client id the pool already has keeps its job. */
  submit(poolId: number, clientJobId: number, params: Uint8Array, timeoutMs = 0): number {
    const pool = this.#pool(poolId)
    const known = pool.jobs.get(clientJobId)
    if (known !== undefined) return known.jobId
    const run = pool.runOf(clientJobId)
    if (run !== undefined) return run.firstJobId + run.indexOf(clientJobId)
    const job = newJob(poolId, this.#nextJobId++, clientJobId, params, timeoutMs, this.#now())
    this.#jobs.set(job.jobId, job)
    pool.jobs.set(clientJobId, job)
    pool.queue.push(job)
    pool.queued++
    pool.open++
    this.#queued++
    return job.jobId
  }

  /**
   * Queues the jobs of one submit frame. Small jobs whose client ids rise
   * above any the pool has had are kept in one compact run; big ones (where an
   * object costs nothing beside the params, and copying them would) and any
   * other id (an honest client never sends one) take the checked path of
   * {@link submit}, so a repeated id still keeps its first job.
   */
  submitMany(poolId: number, jobs: readonly SubmittedJob[]): void {
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
      const run = new QueuedRun(rising, this.#nextJobId, this.#now())
      this.#nextJobId += rising.length
      pool.lastRunId = last
      pool.runs.push(run)
      pool.queue.push(run)
      pool.queued += rising.length
      pool.open += rising.length
      this.#queued += rising.length
    }
    for (const job of others) this.submit(poolId, job.id, job.params, job.timeoutMs ?? 0)
  }

  /**
   * Cancels jobs of a pool by the client's ids: queued and waiting ones leave
   * at once; leased ones are returned so the caller can stop them on their nodes.
   */
  cancel(poolId: number, clientJobIds: Iterable<number>): LeaseToCancel[] {
    const pool = this.#pools.get(poolId)
    if (pool === undefined) return []
    const jobs: Job[] = []
    for (const id of clientJobIds) {
      const job = pool.jobs.get(id)
      if (job !== undefined) {
        jobs.push(job)
        continue
      }
      const run = pool.runOf(id)
      if (run === undefined) continue
      run.cancel(run.indexOf(id))
      pool.queued--
      pool.open--
      this.#queued--
    }
    return this.#drop(pool, jobs)
  }

  /** Leases up to `max` queued jobs to a node, taking pools in turn (those `canRun` allows). */
  lease(
    nodeId: string,
    max: number,
    updateSeqOf: (poolId: number) => number = () => 0,
    canRun: (poolId: number) => boolean = () => true,
  ): LeasedJob[] {
    const out: LeasedJob[] = []
    if (this.#queued === 0 || max <= 0) return out
    const held = this.#held(nodeId)
    const now = this.#now()
    let idle = 0
    while (out.length < max && this.#queued > 0 && idle < this.#rotation.length) {
      if (this.#next >= this.#rotation.length) this.#next = 0
      const poolId = this.#rotation[this.#next++] as number
      const pool = this.#pools.get(poolId) as PoolBook
      const job = canRun(poolId) ? pool.takeQueued() : undefined
      if (job === undefined) {
        idle++
        continue
      }
      idle = 0
      this.#jobs.set(job.jobId, job) // a job from a run gets its object now
      pool.queued--
      this.#queued--
      job.state = 'leased'
      job.attempt++
      job.leaseId = this.#nextLeaseId++
      this.#leases++
      job.nodeId = nodeId
      job.expiresAt = now + pool.settings.leaseMs
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

  /**
   * Fails every job of a pool that is not leased (queued, or waiting to
   * retry) with `error`: no node can run the pool. Returns the outcomes to route.
   */
  failQueued(poolId: number, error: ErrorShape): RoutedOutcome[] {
    const pool = this.#pools.get(poolId)
    if (pool === undefined) return []
    const failed: RoutedOutcome[] = []
    const fail = (clientJobId: number): void => {
      this.#failed++
      failed.push({ poolId, outcome: { id: clientJobId, ok: false, error } })
    }
    this.#queued -= pool.queued
    const { fromRuns, jobs } = pool.takeAll()
    pool.open -= fromRuns.length
    for (const clientJobId of fromRuns) fail(clientJobId)
    for (const job of jobs) {
      this.#forget(job)
      fail(job.clientJobId)
    }
    const waiting = this.#waiting.filter((job) => job.poolId === poolId)
    if (waiting.length > 0) {
      this.#waiting = this.#waiting.filter((job) => job.poolId !== poolId)
      for (const job of waiting) {
        this.#forget(job)
        fail(job.clientJobId)
      }
    }
    return failed
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
      const past = job.pastLeases?.some((l) => l.nodeId === nodeId && l.leaseId === report.leaseId)
      if (past !== true || !report.ok) return undefined
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
      pastLease(job, nodeId)
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
        pastLease(job, nodeId)
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

  /** Who holds a leased job now, and whose it is; undefined unless the job is leased. */
  holder(jobId: number): { nodeId: string; leaseId: number; poolId: number; clientJobId: number } | undefined {
    const job = this.#jobs.get(jobId)
    if (job === undefined || job.state !== 'leased' || job.nodeId === undefined) return undefined
    return { nodeId: job.nodeId, leaseId: job.leaseId, poolId: job.poolId, clientJobId: job.clientJobId }
  }

  /** Jobs leased to a node right now. */
  heldBy(nodeId: string): number {
    return this.#byNode.get(nodeId)?.size ?? 0
  }

  /** Jobs of a pool not yet done (queued, leased, waiting to retry). */
  openCount(poolId: number): number {
    return this.#pools.get(poolId)?.open ?? 0
  }

  /** Queued jobs of one pool, or of all pools. */
  queuedCount(poolId?: number): number {
    if (poolId === undefined) return this.#queued
    return this.#pools.get(poolId)?.queued ?? 0
  }

  counts(): LedgerCounts {
    const waiting = this.#waiting.length
    let leased = 0
    for (const held of this.#byNode.values()) leased += held.size
    return {
      queued: this.#queued,
      leased,
      waiting,
      done: this.#done,
      failed: this.#failed,
      expired: this.#expired,
      leases: this.#leases,
    }
  }

  #pool(poolId: number): PoolBook {
    const pool = this.#pools.get(poolId)
    if (pool === undefined) throw new Error(`pool ${poolId} is not open`)
    return pool
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
    const pool = this.#pools.get(job.poolId)
    if (pool === undefined) {
      this.#forget(job)
      return
    }
    job.state = 'queued'
    pool.queue.unshift(job)
    pool.queued++
    this.#queued++
  }

  #requeue(job: Job, where: string): RoutedOutcome | undefined {
    job.lostOn ??= []
    job.lostOn.push(where)
    const maxAttempts = this.settingsOf(job.poolId).maxAttempts
    if (job.attempt >= maxAttempts) {
      const error = new WorkerLostError(
        `the job's worker was lost ${times(job.attempt)} (maxAttempts ${maxAttempts}): ${job.lostOn.join('; ')}`,
      )
      return this.#finish(job, { id: job.clientJobId, ok: false, error: errorShape(error) })
    }
    this.#enqueueFront(job)
    return undefined
  }

  /** Takes jobs out of the book (a cancel); returns those leased, to stop on their nodes. */
  #drop(pool: PoolBook, jobs: Job[]): LeaseToCancel[] {
    const leased: LeaseToCancel[] = []
    let queuedDropped = false
    for (const job of jobs) {
      if (job.state === 'leased' && job.nodeId !== undefined) leased.push({ nodeId: job.nodeId, jobId: job.jobId })
      if (job.state === 'queued') {
        pool.queued--
        this.#queued--
        queuedDropped = true
      }
      if (job.state === 'waiting') this.#waiting = this.#waiting.filter((w) => w !== job)
      this.#unlease(job)
      job.state = 'failed'
      this.#forget(job)
    }
    if (queuedDropped) pool.rebuild()
    return leased
  }

  /** Takes one queued job out of its pool's queue (a late result won it). */
  #unqueue(job: Job): void {
    job.state = 'failed'
    this.#queued--
    const pool = this.#pools.get(job.poolId)
    if (pool === undefined) return
    pool.queued--
    pool.rebuild()
  }

  #forget(job: Job): void {
    this.#jobs.delete(job.jobId)
    const pool = this.#pools.get(job.poolId)
    if (pool?.jobs.get(job.clientJobId) === job) {
      pool.jobs.delete(job.clientJobId)
      pool.open--
    }
  }

  #finish(job: Job, outcome: ClientOutcome): RoutedOutcome {
    job.state = outcome.ok ? 'done' : 'failed'
    if (outcome.ok) this.#done++
    else this.#failed++
    this.#forget(job)
    return { poolId: job.poolId, outcome, ms: this.#now() - job.submittedAt }
  }
}

/** `once`, `2 times`: how often something happened, in words. */
function times(count: number): string {
  return count === 1 ? 'once' : `${count} times`
}

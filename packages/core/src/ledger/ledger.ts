import type { ErrorShape } from '../errors.js'
import type { ClientOutcome, JobOutcome, LeasedJob, SubmittedJob } from '../wire/index.js'
import { type Job, type JobState, leasedJob, type PoolSettings } from './job.js'
import { JobQueues } from './job-queues.js'
import { DEFAULT_LEASE_MS, LeaseTable } from './lease-table.js'
import { DEFAULT_MAX_ATTEMPTS, DEFAULT_RETRIES, RetryPolicy } from './retry-policy.js'
import type { JobLedgerInit, LeaseToCancel, LedgerCounts, RoutedOutcome } from './types.js'

/**
 * The head's book of jobs: every job submitted by a pool's client is queued,
 * leased to one node at a time, and leaves the book once its outcome is
 * routed. Leases expire unless their node renews them; a late result from an
 * expired lease still wins if the job is open. Pools are served round robin,
 * so many clients share the slots fairly. Pure: no I/O, no timers; time comes
 * from `now`, and the head calls {@link JobLedger.tick} to expire leases.
 *
 * The queues ({@link JobQueues}), the leases ({@link LeaseTable}) and the
 * retries ({@link RetryPolicy}) each keep their own counts; the book keeps
 * the pools' settings and the tally of outcomes.
 */
export class JobLedger {
  readonly #now: () => number
  readonly #defaults: PoolSettings
  readonly #settings = new Map<number, PoolSettings>()
  readonly #queues = new JobQueues()
  readonly #leases: LeaseTable
  readonly #retries = new RetryPolicy()
  #done = 0
  #failed = 0

  constructor(init: JobLedgerInit) {
    this.#now = init.now
    this.#defaults = {
      maxAttempts: init.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      retries: DEFAULT_RETRIES,
      leaseMs: DEFAULT_LEASE_MS,
    }
    this.#leases = new LeaseTable(init.random ?? Math.random)
  }

  /** Registers a pool (one per client connection) with its settings. */
  addPool(poolId: number, settings: Partial<PoolSettings> = {}): void {
    if (this.#queues.has(poolId)) return
    this.#settings.set(poolId, {
      maxAttempts: settings.maxAttempts ?? this.#defaults.maxAttempts,
      retries: settings.retries ?? this.#defaults.retries,
      leaseMs: settings.leaseMs ?? this.#defaults.leaseMs,
    })
    this.#queues.addPool(poolId)
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
    if (!this.#queues.has(poolId)) return []
    const leased = this.#drop(poolId, this.#queues.jobsOf(poolId))
    this.#queues.removePool(poolId)
    this.#settings.delete(poolId)
    return leased
  }

  /** Queues a job of a pool. Returns its ledger id; a client id the pool already has keeps its job. */
  submit(poolId: number, clientJobId: number, params: Uint8Array, timeoutMs = 0): number {
    return this.#queues.submit(poolId, clientJobId, params, timeoutMs, this.#now())
  }

  /**
   * Queues the jobs of one submit frame: those with rising client ids in one
   * compact run, the others one by one as {@link submit} does.
   */
  submitMany(poolId: number, jobs: readonly SubmittedJob[]): void {
    this.#queues.submitMany(poolId, jobs, this.#now())
  }

  /**
   * Cancels jobs of a pool by the client's ids: queued and waiting ones leave
   * at once; leased ones are returned so the caller can stop them on their nodes.
   */
  cancel(poolId: number, clientJobIds: Iterable<number>): LeaseToCancel[] {
    if (!this.#queues.has(poolId)) return []
    const jobs: Job[] = []
    for (const id of clientJobIds) {
      const job = this.#queues.jobOf(poolId, id)
      if (job !== undefined) jobs.push(job)
      else this.#queues.cancelInRun(poolId, id)
    }
    return this.#drop(poolId, jobs)
  }

  /** Leases up to `max` queued jobs to a node, taking pools in turn (those `canRun` allows). */
  lease(
    nodeId: string,
    max: number,
    updateSeqOf: (poolId: number) => number = () => 0,
    canRun: (poolId: number) => boolean = () => true,
  ): LeasedJob[] {
    const out: LeasedJob[] = []
    const now = this.#now()
    while (out.length < max) {
      const job = this.#queues.take(canRun)
      if (job === undefined) break
      this.#leases.grant(job, nodeId, now + this.settingsOf(job.poolId).leaseMs)
      out.push(leasedJob(job, updateSeqOf(job.poolId)))
    }
    return out
  }

  /**
   * Fails every job of a pool that is not leased (queued, or waiting to
   * retry) with `error`: no node can run the pool. Returns the outcomes to route.
   */
  failQueued(poolId: number, error: ErrorShape): RoutedOutcome[] {
    if (!this.#queues.has(poolId)) return []
    const { fromRuns, jobs } = this.#queues.takeAll(poolId)
    const failed = fromRuns.map((id) => this.#tally({ id, ok: false, error }, poolId))
    for (const job of [...jobs, ...this.#retries.removePool(poolId)]) {
      this.#queues.forget(job)
      failed.push(this.#tally({ id: job.clientJobId, ok: false, error }, poolId))
    }
    return failed
  }

  /** A node's heartbeat: every lease it holds now runs for its pool's leaseMs from now. */
  renew(nodeId: string): number {
    const now = this.#now()
    return this.#leases.renew(nodeId, (job) => now + this.settingsOf(job.poolId).leaseMs)
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
    const job = this.#queues.get(report.jobId)
    if (job === undefined) return undefined
    if (!this.#leases.isCurrent(job, nodeId, report.leaseId)) {
      if (!report.ok || !this.#leases.wasHeld(job, nodeId, report.leaseId)) return undefined
      const holder = job.state === 'leased' ? job.nodeId : undefined
      if (job.state === 'queued') this.#queues.remove(job.poolId, [job])
      if (job.state === 'waiting') this.#retries.remove(job)
      this.#leases.end(job)
      const routed = this.#finish(job, { id: job.clientJobId, ok: true, value: report.value })
      return holder === undefined ? routed : { ...routed, cancelOn: { nodeId: holder, jobId: job.jobId } }
    }
    this.#leases.end(job)
    if (report.ok) return this.#finish(job, { id: job.clientJobId, ok: true, value: report.value })
    if (report.lost === true) return this.#requeue(job, `${nodeId} (slot died: ${report.error.message})`)
    if (this.#retries.afterFailure(job, report.error, this.settingsOf(job.poolId), this.#now())) return undefined
    return this.#finish(job, { id: job.clientJobId, ok: false, error: report.error, where: nodeId })
  }

  /** A draining node gives back jobs it has not started: they go back to the front, no attempt counted. */
  release(nodeId: string, jobIds: Iterable<number>): number {
    let released = 0
    // Newest first onto the front, so they are leased again in their old order.
    for (const jobId of [...jobIds].reverse()) {
      const job = this.#queues.get(jobId)
      if (job === undefined || job.state !== 'leased' || job.nodeId !== nodeId) continue
      this.#leases.giveBack(job)
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
    const failed: RoutedOutcome[] = []
    // Newest first onto the front, so the oldest is leased first again.
    for (const job of this.#leases.takeNode(nodeId)) {
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
    for (const { nodeId, job } of this.#leases.expire(now)) {
      const routed = this.#requeue(job, `${nodeId} (lease expired: the node stopped renewing it)`)
      if (routed !== undefined) failed.push(routed)
    }
    for (const job of this.#retries.due(now)) this.#enqueueFront(job)
    return failed
  }

  /** Nodes holding a lease that has run out (they stopped renewing): {@link tick} will take their jobs. */
  overdueNodes(): string[] {
    return this.#leases.overdueNodes(this.#now())
  }

  /** The state of a job still in the book, or undefined once it has left. */
  stateOf(jobId: number): JobState | undefined {
    return this.#queues.get(jobId)?.state
  }

  /** Who holds a leased job now, and whose it is; undefined unless the job is leased. */
  holder(jobId: number): { nodeId: string; leaseId: number; poolId: number; clientJobId: number } | undefined {
    const job = this.#queues.get(jobId)
    if (job === undefined || job.state !== 'leased' || job.nodeId === undefined) return undefined
    return { nodeId: job.nodeId, leaseId: job.leaseId, poolId: job.poolId, clientJobId: job.clientJobId }
  }

  /** Jobs leased to a node right now. */
  heldBy(nodeId: string): number {
    return this.#leases.heldBy(nodeId)
  }

  /** Jobs of a pool not yet done (queued, leased, waiting to retry). */
  openCount(poolId: number): number {
    return this.#queues.openCount(poolId)
  }

  /** Queued jobs of one pool, or of all pools. */
  queuedCount(poolId?: number): number {
    return this.#queues.queuedCount(poolId)
  }

  counts(): LedgerCounts {
    return {
      queued: this.#queues.queuedCount(),
      leased: this.#leases.leased,
      waiting: this.#retries.waiting,
      done: this.#done,
      failed: this.#failed,
      expired: this.#leases.expired,
      leases: this.#leases.granted,
    }
  }

  #enqueueFront(job: Job): void {
    if (this.#queues.unshift(job)) job.state = 'queued'
    else this.#queues.forget(job) // its pool is gone
  }

  /** A job's slot or node was lost: it is queued again, or fails once out of attempts. */
  #requeue(job: Job, where: string): RoutedOutcome | undefined {
    const error = this.#retries.afterLoss(job, where, this.settingsOf(job.poolId).maxAttempts)
    if (error !== undefined) return this.#finish(job, { id: job.clientJobId, ok: false, error })
    this.#enqueueFront(job)
    return undefined
  }

  /** Takes jobs out of the book (a cancel); returns those leased, to stop on their nodes. */
  #drop(poolId: number, jobs: Job[]): LeaseToCancel[] {
    const leased: LeaseToCancel[] = []
    this.#queues.remove(
      poolId,
      jobs.filter((job) => job.state === 'queued'),
    )
    for (const job of jobs) {
      if (job.state === 'leased' && job.nodeId !== undefined) leased.push({ nodeId: job.nodeId, jobId: job.jobId })
      if (job.state === 'waiting') this.#retries.remove(job)
      this.#leases.end(job)
      job.state = 'failed'
      this.#queues.forget(job)
    }
    return leased
  }

  #finish(job: Job, outcome: ClientOutcome): RoutedOutcome {
    job.state = outcome.ok ? 'done' : 'failed'
    this.#queues.forget(job)
    return { ...this.#tally(outcome, job.poolId), ms: this.#now() - job.submittedAt }
  }

  /** Counts an outcome, the one place the tally of done and failed jobs changes. */
  #tally(outcome: ClientOutcome, poolId: number): RoutedOutcome {
    if (outcome.ok) this.#done++
    else this.#failed++
    return { poolId, outcome }
  }
}

import type { LeasedJob, SlotStateName } from '@meshpool/core'
import type { FromSlot, SlotResult } from '../slot/protocol.js'
import type { GpuInfo } from '../worker-types.js'
import { quotaLeft } from './capacity.js'
import type { PoolState } from './node-pools.js'
import { afterSlotDeath, deathNotice, whatItHeld } from './slot-deaths.js'
import { ABORT_GRACE_MS, type SlotJobCounts, SlotJobs } from './slot-jobs.js'
import { DISPOSE_GRACE_MS, SlotKeeper } from './slot-keeper.js'
import type { SlotChild } from './slot-process.js'
import { answerShared } from './slot-shared.js'
import { SLOT_DIED, type SlotEvents, type SlotInit, type SlotPhase, type SlotPools } from './slot-types.js'

/**
 * One slot of a node: the state machine around its process. It loads a
 * pool's worker, runs the jobs handed to it in order with their timeouts
 * ({@link SlotJobs}), passes its pool's updates on, replaces its process after
 * maxJobsPerSlot jobs and restarts it after a crash ({@link SlotKeeper}), and
 * disposes of its worker when its pool closes or the node stops. It tells the
 * node of results, lost jobs and jobs to give back through {@link SlotEvents}.
 */
export class Slot {
  readonly index: number
  readonly gpu: GpuInfo | null
  readonly #process: SlotChild
  readonly #keeper: SlotKeeper
  readonly #jobs: SlotJobs
  readonly #init: SlotInit
  readonly #pools: SlotPools
  readonly #events: SlotEvents
  #phase: SlotPhase = 'down'
  #poolId: number | undefined
  /** Updates of the loaded pool already sent to the slot. */
  #sentSeq = 0
  /** The job waiting for the slot's worker to load. */
  #pendingJob: LeasedJob | undefined

  constructor(init: SlotInit) {
    this.index = init.index
    this.gpu = init.gpu
    this.#init = init
    this.#pools = init.pools
    this.#events = init.events
    this.#process = init.process({
      message: (message) => {
        this.#onMessage(message)
        init.waits.changed()
      },
      exit: (description) => {
        this.#onExit(description)
        init.waits.changed()
      },
      output: (line) => this.#events.output(line, this.#poolId),
    })
    this.#keeper = new SlotKeeper(this.index, this.#process, () => this.#fresh(), init.log)
    this.#jobs = new SlotJobs(this.index, this.#process, init.events)
  }

  get phase(): SlotPhase {
    return this.#phase
  }

  /** What the slot is doing, as `meshpool status` shows it: the one place phases turn into wire names. */
  get state(): SlotStateName {
    if (this.#phase === 'broken') return 'broken'
    if (this.#jobs.count > 0) return 'busy'
    if (this.#phase === 'ready') return 'idle'
    return this.#phase === 'down' ? 'down' : 'loading'
  }

  /** Loaded (or empty) and taking jobs. */
  get ready(): boolean {
    return this.#phase === 'ready'
  }

  /** Its process runs or will run again: the slot counts towards the node's capacity. */
  get up(): boolean {
    return this.#phase !== 'down' && this.#phase !== 'broken'
  }

  /** The pool whose worker the slot holds (or is loading). */
  get poolId(): number | undefined {
    return this.#poolId
  }

  get pendingJob(): LeasedJob | undefined {
    return this.#pendingJob
  }

  /** The jobs handed to the slot and not finished, as the dispatcher counts them. */
  get jobs(): SlotJobCounts {
    return this.#jobs
  }

  /** Starts the slot's process. */
  start(): void {
    this.#keeper.start()
  }

  /** Gets the slot ready for a job of another pool: dispose of its worker, load the job's. */
  prepare(job: LeasedJob, pool: PoolState): void {
    this.#pendingJob = job
    if (this.#poolId !== undefined) this.#disposeWorker()
    else this.#load(pool)
  }

  /** Hands jobs of its pool to the slot, to run in order after the updates it lacks. */
  run(jobs: LeasedJob[]): void {
    this.sendUpdates()
    this.#jobs.hand(jobs)
  }

  /** Sends the slot the updates of its pool it has not had (and tells it of those it can't have any more). */
  sendUpdates(): void {
    const pool = this.#poolId === undefined ? undefined : this.#pools.get(this.#poolId)
    if (pool === undefined) return
    this.#sentSeq = pool.updates.feed(this.#sentSeq, (message) => this.#process.send(message))
  }

  /** The head cancelled these jobs: one waiting for the worker is dropped, those handed over are aborted. */
  cancel(jobIds: ReadonlySet<number>): void {
    if (this.#pendingJob !== undefined && jobIds.has(this.#pendingJob.jobId)) this.#pendingJob = undefined
    this.#jobs.cancel(jobIds)
  }

  /** The connection to the head dropped: the job waiting for the worker went back to the head's queue. */
  forgetPending(): void {
    this.#pendingJob = undefined
  }

  /** The node drains: the jobs the slot holds that have not started are skipped here, to run elsewhere. */
  takeUnstarted(): number[] {
    const pending = this.#pendingJob === undefined ? [] : [this.#pendingJob.jobId]
    this.#pendingJob = undefined
    return [...pending, ...this.#jobs.skipWaiting()]
  }

  /** An idle slot whose pool closed disposes of its worker (a busy one does once its jobs end). Says whether it started to. */
  disposeIfClosed(): boolean {
    const pool = this.#poolId === undefined ? undefined : this.#pools.get(this.#poolId)
    if (pool?.closed !== true || this.#phase !== 'ready' || this.#jobs.count > 0 || this.#pendingJob !== undefined)
      return false
    this.#disposeWorker()
    return true
  }

  /**
   * The node stops: what still runs here (past the drain, or of a pool whose
   * close did not reach here) is aborted, as it can't be reported any more.
   * Then the worker is disposed of, within DISPOSE_GRACE_MS; a job still
   * running has `jobGraceMs` to end first, or the worker is not disposed of.
   */
  async dispose(jobGraceMs = ABORT_GRACE_MS): Promise<void> {
    this.#keeper.beginStop()
    this.#jobs.cancelAll()
    const gone = (): boolean => this.#poolId === undefined || !this.#keeper.running
    if (gone()) return
    if (!(await this.#init.waits.until(() => gone() || this.#jobs.count === 0, jobGraceMs)) || gone()) return
    if (this.#phase !== 'disposing' && this.#phase !== 'recycling') this.#disposeWorker()
    await this.#init.waits.until(gone, DISPOSE_GRACE_MS)
  }

  /** Ends the slot's process, and its timers. */
  async stop(): Promise<void> {
    this.#jobs.stop()
    await this.#keeper.stop()
  }

  /** A fresh process: no worker loaded, no job run yet. */
  #fresh(): void {
    this.#jobs.freshProcess()
    this.#poolId = undefined
    this.#phase = 'ready'
    this.#events.changed()
  }

  #disposeWorker(): void {
    this.#phase = 'disposing'
    this.#process.send({ type: 'dispose' })
  }

  #load(pool: PoolState): void {
    this.#phase = 'loading'
    this.#poolId = pool.spec.poolId
    this.#sentSeq = 0
    const { worker, codeHash, init } = pool.spec
    const where = { slot: this.index, gpu: this.gpu }
    this.#pools.codeFor(pool, () => this.#phase === 'loading' && this.#poolId === pool.spec.poolId, {
      ready: (url) => {
        const shipped = codeHash !== undefined
        this.#process.send({ type: 'load', worker, url, shipped, init, nodeId: this.#init.nodeId(), ...where })
      },
      failed: (message) => this.#loadFailed(message),
      // Another fetch is on its way: give the job back, the next one waits for it.
      retry: () => {
        this.#giveBack()
        this.#empty()
      },
    })
  }

  #onMessage(message: FromSlot): void {
    const { type } = message
    if (type === 'results') this.#finished(message.results)
    else if (type === 'progress') this.#jobs.progress(message.jobId, message.fraction)
    else if (type === 'output') for (const line of message.lines) this.#events.output(line, this.#poolId)
    else if (type === 'loaded') this.#loaded()
    else if (type === 'loadFailed') this.#loadFailed(message.error.message)
    else if (type === 'disposed') this.#disposed()
    else if (type === 'needShared') answerShared(this.#process, this.#init.shared, this.#poolId, message.hash)
  }

  /** Shared values gone from the node: the slot process drops what it decoded of them. */
  forgetShared(hashes: string[]): void {
    if (this.up) this.#process.send({ type: 'forget', hashes })
  }

  #loaded(): void {
    this.#phase = 'ready'
    const job = this.#pendingJob
    this.#pendingJob = undefined
    if (job !== undefined) this.run([job])
    else this.sendUpdates()
    this.disposeIfClosed()
    this.#events.changed()
  }

  #loadFailed(message: string): void {
    this.#init.log.error('slot %d could not load its worker: %s', this.index, message)
    const poolId = this.#poolId
    this.#giveBack()
    if (poolId !== undefined) this.#events.cannotStart(poolId, message)
    this.#empty()
  }

  /** The job waiting for the worker goes back to the head. */
  #giveBack(): void {
    const job = this.#pendingJob
    this.#pendingJob = undefined
    if (job !== undefined) this.#events.release([job.jobId])
  }

  /** No worker: the slot takes jobs again. */
  #empty(): void {
    this.#poolId = undefined
    this.#phase = 'ready'
    this.#events.changed()
  }

  #disposed(): void {
    if (this.#phase === 'recycling') {
      this.#keeper.replace(() => this.#init.waits.changed())
      return
    }
    this.#poolId = undefined
    this.#phase = 'ready'
    this.#events.disposed()
    if (this.#keeper.stopping) return
    const job = this.#pendingJob
    const pool = job === undefined ? undefined : this.#pools.get(job.poolId)
    if (pool !== undefined) this.#load(pool)
    else this.#events.changed()
  }

  #finished(results: SlotResult[]): void {
    const pool = this.#poolId === undefined ? undefined : this.#pools.get(this.#poolId)
    this.#jobs.finish(results, (ms) => {
      this.#keeper.jobDone()
      if (pool !== undefined) this.#pools.ran(pool, ms)
    })
    if (this.#jobs.count === 0 && quotaLeft(this.#jobs, pool) <= 0) {
      // maxJobsPerSlot: dispose of the worker, then a fresh process takes the slot's place.
      this.#phase = 'recycling'
      this.#process.send({ type: 'dispose' })
      this.#keeper.replacing(() => this.#phase === 'recycling', this.#jobs.handed)
    } else this.disposeIfClosed()
    this.#events.changed()
  }

  #onExit(description: string): void {
    const { lastStarted } = this.#process
    const held = { lastStarted, assigned: this.#jobs.takeAll(), pendingJob: this.#pendingJob, phase: this.#phase }
    const death = afterSlotDeath(held)
    for (const { jobId, leaseId } of death.lost)
      this.#events.outcome({ jobId, leaseId, ok: false, lost: true, error: { name: SLOT_DIED, message: description } })
    if (death.release.length > 0) this.#events.release(death.release)
    this.#pendingJob = undefined
    this.#poolId = undefined
    this.#phase = 'down'
    this.#events.changed()
    const crashes = this.#keeper.exited(death.blameless)
    if (crashes === undefined) return
    this.#events.notice(deathNotice(description, whatItHeld(held, death), crashes))
    if (this.#keeper.broken(description)) {
      this.#phase = 'broken'
      this.#events.broken()
    }
    this.#events.changed()
  }
}

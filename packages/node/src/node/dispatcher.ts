import { decodeBlobRef, errorShape, type JobOutcome, type LeasedJob } from '@meshpool/core'
import { depthFor, hasRoom, slotFor } from './capacity.js'
import type { NodePools, PoolState } from './node-pools.js'
import { type FetchParams, noParamsSource } from './params-fetch.js'
import { ParamsPrefetch } from './params-prefetch.js'
import type { Slot } from './slot.js'

export interface DispatcherInit {
  slots: readonly Slot[]
  pools: NodePools
  /** The head, as the dispatcher uses it: jobs go back, fail, and more are asked for. */
  head: {
    release(jobIds: number[]): void
    result(outcome: JobOutcome): void
    /** Asks for jobs, up to `want` held here or asked for. */
    pull(want: number, atLeast?: number): void
  }
  /** A job was leased after updates this node lacks: they are fetched first. */
  catchUp: (pool: PoolState) => void
  /** Where a job's big params (left with its client) are fetched before it is queued. @default none */
  fetchParams?: FetchParams
}

/**
 * A node's queue of leased jobs and the pump that hands them to its slots:
 * to a slot that holds the job's pool and has room first, else to an empty
 * slot (loading the pool's worker there). It asks the head for as many jobs
 * as the slots can take, and gives back those no slot here can run.
 */
export class Dispatcher {
  readonly #slots: readonly Slot[]
  readonly #pools: NodePools
  readonly #head: DispatcherInit['head']
  readonly #catchUp: (pool: PoolState) => void
  /** Leased jobs whose big params are fetched first. */
  readonly #prefetch: ParamsPrefetch
  #queue: LeasedJob[] = []
  #draining = false
  #stopped = false

  constructor(init: DispatcherInit) {
    this.#slots = init.slots
    this.#pools = init.pools
    this.#head = init.head
    this.#catchUp = init.catchUp
    this.#prefetch = new ParamsPrefetch({
      fetch: init.fetchParams ?? noParamsSource,
      clientOf: (poolId) => this.#pools.get(poolId)?.spec.client,
      // One job's params per slot, and one more: a slot that finishes has the next at hand.
      ahead: () => this.#slots.length + 1,
      ready: (job) => {
        this.#queue.push(job)
        this.pump()
      },
      failed: (job, error) => {
        this.#head.result({ jobId: job.jobId, leaseId: job.leaseId, ok: false, error, lost: true })
        this.pump()
      },
    })
  }

  /** Jobs the head leased this node. */
  lease(jobs: LeasedJob[]): void {
    if (this.#draining) {
      this.#head.release(jobs.map((job) => job.jobId))
      return
    }
    for (const job of jobs) {
      const blob = decodeBlobRef(job.params)
      if (blob === undefined) this.#queue.push(job)
      else this.#prefetch.add(job, blob)
    }
    this.pump()
  }

  /** A new connection to the head: jobs not started are dropped (the head has requeued them). */
  reset(): void {
    this.#prefetch.drop(() => true)
    this.#queue = []
    for (const slot of this.#slots) slot.forgetPending()
  }

  cancel(jobIds: ReadonlySet<number>): void {
    this.#prefetch.drop((job) => jobIds.has(job.jobId))
    this.#queue = this.#queue.filter((job) => !jobIds.has(job.jobId))
    for (const slot of this.#slots) slot.cancel(jobIds)
    this.pump()
  }

  /** Pools whose client is gone: their workers go as soon as their slots are idle, and so does what the node kept of them. */
  closePools(poolIds: number[]): void {
    for (const poolId of poolIds) {
      this.#prefetch.drop((job) => job.poolId === poolId)
      if (this.#pools.close(poolId)) this.#queue = this.#queue.filter((job) => job.poolId !== poolId)
    }
    for (const slot of this.#slots) slot.disposeIfClosed()
    this.forgetClosedPools()
    this.pump()
  }

  /** Forgets closed pools that no slot holds any more. */
  forgetClosedPools(): void {
    this.#pools.forgetClosed((poolId) =>
      this.#slots.some((slot) => slot.poolId === poolId || slot.pendingJob?.poolId === poolId),
    )
  }

  /** Takes no new work: returns the jobs not started (queued here, or waiting in a slot), to go back to the head. */
  drain(): number[] {
    this.#draining = true
    const unstarted = this.#queue.map((job) => job.jobId).concat(this.#prefetch.drop(() => true))
    // Jobs waiting their turn inside a slot have not started: skip them there, run them elsewhere.
    for (const slot of this.#slots) unstarted.push(...slot.takeUnstarted())
    this.#queue = []
    return unstarted
  }

  /** Whether any leased job is here: queued, waiting in a slot, or running. */
  holding(): boolean {
    return (
      this.#queue.length > 0 ||
      this.#prefetch.size > 0 ||
      this.#slots.some((slot) => slot.jobs.count > 0 || slot.pendingJob !== undefined)
    )
  }

  /** Slots running a job still wanted. */
  busySlots(): number {
    return this.#slots.filter((slot) => slot.jobs.busy).length
  }

  /** The node stops: it asks for no more jobs. */
  stop(): void {
    this.#stopped = true
  }

  /** Asks the head for as many jobs as free capacity allows. */
  pull(): void {
    if (this.#stopped || this.#draining) return
    let capacity = 0
    for (const slot of this.#slots) {
      if (!slot.up) continue
      const pool = slot.poolId === undefined ? undefined : this.#pools.get(slot.poolId)
      // Enough for the slot's batch, and as much again held here for the next one.
      capacity += 2 * (pool === undefined ? 1 : depthFor(pool))
    }
    let held = this.#queue.length + this.#prefetch.size
    for (const slot of this.#slots) held += slot.jobs.count + (slot.pendingJob === undefined ? 0 : 1)
    this.#head.pull(capacity - held, held === 0 ? 1 : Math.ceil(capacity / 2))
  }

  /** Hands queued jobs to slots; each slot gets its jobs in one message. */
  pump(): void {
    if (this.#queue.length > 0 && this.#slots.every((slot) => !slot.up)) {
      // No slot can run them here now (broken, or waiting to restart): give them back to run elsewhere.
      this.#head.release(this.#queue.map((job) => job.jobId))
      this.#queue = []
    }
    if (this.#queue.length > 0 && hasRoom(this.#slots, this.#pools, new Map())) this.#handOut()
    this.#prefetch.start(this.#queue)
    this.pull()
  }

  /** One pass over the queue, while any slot has room: the jobs that can't go yet keep their order. */
  #handOut(): void {
    const batches = new Map<Slot, LeasedJob[]>()
    const waiting: LeasedJob[] = []
    const unloadable: number[] = []
    let waitingPools: Set<number> | undefined // made only when a slot may switch pools
    const waitingHere = (poolId: number): boolean => {
      waitingPools ??= new Set(this.#queue.map((job) => job.poolId))
      return waitingPools.has(poolId)
    }
    let next = 0
    for (; next < this.#queue.length && hasRoom(this.#slots, this.#pools, batches); next++) {
      const job = this.#queue[next] as LeasedJob
      const pool = this.#pools.get(job.poolId)
      if (pool === undefined) {
        const error = errorShape(new Error('no pool spec for job'))
        this.#head.result({ jobId: job.jobId, leaseId: job.leaseId, ok: false, error })
      } else if (pool.loadError !== undefined) {
        this.#pools.tellUnloadable(pool) // a head that reconnected must hear it before the jobs come back
        unloadable.push(job.jobId) // other nodes may run it
      } else if (pool.updates.known < job.updateSeq) {
        this.#catchUp(pool)
        waiting.push(job)
      } else {
        const slot = slotFor(this.#slots, job, pool, batches, waitingHere)
        const batch = slot === undefined ? undefined : batches.get(slot)
        if (slot === undefined) waiting.push(job)
        else if (slot.poolId !== job.poolId || !slot.ready) slot.prepare(job, pool)
        else if (batch === undefined) batches.set(slot, [job])
        else batch.push(job)
      }
    }
    this.#queue = next === this.#queue.length ? waiting : waiting.concat(this.#queue.slice(next))
    for (const [slot, jobs] of batches) slot.run(jobs)
    if (unloadable.length > 0) this.#head.release(unloadable)
  }
}

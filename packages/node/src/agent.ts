import { logger } from '@libp2p/logger'
import {
  errorShape,
  type HeadToNodeMessage,
  type JobOutcome,
  type LeasedJob,
  type NodeMessage,
  type PoolSpec,
  type UpdateEntry,
  WorkerLoadError,
} from '@meshpool/core'
import type { Channel } from './channel.js'
import { SlotProcess } from './slot-process.js'
import type { FromSlot } from './slot-protocol.js'

const log = logger('meshpool:agent')

/** Jobs a node holds per slot beyond the one running, so slots never wait on a round trip. */
const PREFETCH_PER_SLOT = 1
const RESTART_BACKOFF_MS = [0, 100, 500, 2000, 5000]

interface PoolState {
  spec: PoolSpec
  /** Updates in order, 1..known. */
  updates: UpdateEntry[]
  /** Updates that arrived ahead of a gap, by seq. */
  ahead: Map<number, UpdateEntry>
  catchingUp: boolean
  loadError: Error | undefined
}

interface SlotState {
  process: SlotProcess
  poolId: number | undefined
  /** Updates of the loaded pool already sent to the slot. */
  sentSeq: number
  phase: 'down' | 'idle' | 'loading' | 'busy' | 'disposing'
  job: LeasedJob | undefined
  /** The job waiting for the slot's worker to load. */
  pendingJob: LeasedJob | undefined
  restarts: number
}

export interface NodeAgentInit {
  slots: number
  name: string
}

/**
 * A node's agent: it pulls leased jobs from the head, runs each in one of its
 * slot processes, applies cache updates in order between jobs, and reports
 * results. Slots that die are restarted; their jobs go back to the head.
 */
export class NodeAgent {
  readonly slots: number
  readonly #name: string
  readonly #slots: SlotState[] = []
  readonly #pools = new Map<number, PoolState>()
  #queue: LeasedJob[] = []
  #channel: Channel<HeadToNodeMessage, NodeMessage> | undefined
  #nodeId = ''
  #requested = 0
  #results: JobOutcome[] = []
  #flushScheduled = false
  #stopped = false

  constructor(init: NodeAgentInit) {
    this.slots = init.slots
    this.#name = init.name
    for (let i = 0; i < init.slots; i++) {
      const state: SlotState = {
        process: new SlotProcess(i, {
          message: (message) => this.#onSlotMessage(state, message),
          exit: (description) => this.#onSlotExit(state, description),
        }),
        poolId: undefined,
        sentSeq: 0,
        phase: 'down',
        job: undefined,
        pendingJob: undefined,
        restarts: 0,
      }
      this.#slots.push(state)
    }
  }

  /** Starts the slot processes. */
  start(): void {
    for (const slot of this.#slots) this.#startSlot(slot)
  }

  /**
   * Serves the head on a channel. Called again after a reconnect: jobs held
   * from the old connection are dropped (the head has requeued them).
   */
  connect(channel: Channel<HeadToNodeMessage, NodeMessage>): Promise<Error | undefined> {
    this.#channel = channel
    this.#queue = []
    this.#requested = 0
    this.#results = []
    return new Promise((resolve) => {
      channel.start({
        message: (message) => this.#onHeadMessage(message),
        close: (reason) => {
          if (this.#channel === channel) this.#channel = undefined
          resolve(reason)
        },
      })
      channel.send({ type: 'hello', name: this.#name, slots: this.slots })
    })
  }

  /** Takes an update heard on gossip (or from the head directly). */
  onUpdates(entries: UpdateEntry[]): void {
    const touched = new Set<number>()
    for (const entry of entries) {
      const pool = this.#pools.get(entry.poolId)
      if (pool === undefined) continue // learnt with the pool's first lease, through catch-up
      const known = pool.updates.length
      if (entry.seq <= known) continue
      if (entry.seq === known + 1) {
        pool.updates.push(entry)
        while (pool.ahead.has(pool.updates.length + 1)) {
          const next = pool.ahead.get(pool.updates.length + 1) as UpdateEntry
          pool.ahead.delete(next.seq)
          pool.updates.push(next)
        }
      } else {
        pool.ahead.set(entry.seq, entry)
        this.#catchUp(pool)
      }
      touched.add(entry.poolId)
    }
    if (touched.size === 0) return
    for (const slot of this.#slots) {
      if (slot.poolId !== undefined && touched.has(slot.poolId) && slot.phase !== 'loading') this.#sendUpdates(slot)
    }
    this.#pump()
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#channel?.close()
    await Promise.all(this.#slots.map((slot) => slot.process.stop()))
  }

  #onHeadMessage(message: HeadToNodeMessage): void {
    switch (message.type) {
      case 'welcome':
        this.#nodeId = message.nodeId
        this.#pull()
        return
      case 'pool':
        if (!this.#pools.has(message.pool.poolId)) {
          this.#pools.set(message.pool.poolId, {
            spec: message.pool,
            updates: [],
            ahead: new Map(),
            catchingUp: false,
            loadError: undefined,
          })
        }
        return
      case 'lease':
        this.#requested = Math.max(0, this.#requested - message.jobs.length)
        this.#queue.push(...message.jobs)
        this.#pump()
        return
      case 'updates':
        for (const pool of this.#pools.values()) pool.catchingUp = false
        this.onUpdates(message.entries)
        this.#pump()
        return
    }
  }

  /** Asks the head for as many jobs as free capacity allows. */
  #pull(): void {
    if (this.#channel === undefined || this.#stopped || this.#nodeId === '') return
    const capacity = this.#slots.filter((s) => s.phase !== 'down').length * (1 + PREFETCH_PER_SLOT)
    const held =
      this.#queue.length + this.#slots.filter((s) => s.job !== undefined || s.pendingJob !== undefined).length
    const n = capacity - held - this.#requested
    if (n <= 0) return
    this.#requested += n
    this.#channel.send({ type: 'pull', n })
  }

  /** Gives queued jobs to free slots, preferring slots that hold the job's pool already. */
  #pump(): void {
    if (this.#queue.length === 0) {
      this.#pull()
      return
    }
    const waiting: LeasedJob[] = []
    for (const job of this.#queue) {
      const pool = this.#pools.get(job.poolId)
      if (pool === undefined) {
        this.#report({
          jobId: job.jobId,
          leaseId: job.leaseId,
          ok: false,
          error: errorShape(new Error('no pool spec for job')),
        })
        continue
      }
      if (pool.loadError !== undefined) {
        this.#report({ jobId: job.jobId, leaseId: job.leaseId, ok: false, error: errorShape(pool.loadError) })
        continue
      }
      if (pool.updates.length < job.updateSeq) {
        this.#catchUp(pool)
        waiting.push(job)
        continue
      }
      const idle = this.#slots.filter((s) => s.phase === 'idle')
      const slot = idle.find((s) => s.poolId === job.poolId) ?? idle.find((s) => s.poolId === undefined) ?? idle[0]
      if (slot === undefined) {
        waiting.push(job)
        continue
      }
      this.#assign(slot, job, pool)
    }
    this.#queue = waiting
    this.#pull()
  }

  #assign(slot: SlotState, job: LeasedJob, pool: PoolState): void {
    if (slot.poolId === job.poolId) {
      this.#run(slot, job)
      return
    }
    slot.pendingJob = job
    if (slot.poolId !== undefined) {
      slot.phase = 'disposing'
      slot.process.send({ type: 'dispose' })
      return
    }
    this.#load(slot, pool)
  }

  #load(slot: SlotState, pool: PoolState): void {
    slot.phase = 'loading'
    slot.poolId = pool.spec.poolId
    slot.sentSeq = 0
    slot.process.send({
      type: 'load',
      worker: pool.spec.worker,
      init: pool.spec.init,
      nodeId: this.#nodeId,
      slot: slot.process.index,
    })
  }

  #run(slot: SlotState, job: LeasedJob): void {
    this.#sendUpdates(slot)
    slot.phase = 'busy'
    slot.job = job
    slot.process.send({ type: 'run', jobId: job.jobId, attempt: job.attempt, params: job.params })
  }

  #sendUpdates(slot: SlotState): void {
    const pool = slot.poolId === undefined ? undefined : this.#pools.get(slot.poolId)
    if (pool === undefined) return
    while (slot.sentSeq < pool.updates.length) {
      const entry = pool.updates[slot.sentSeq] as UpdateEntry
      slot.process.send({ type: 'update', seq: entry.seq, value: entry.value })
      slot.sentSeq = entry.seq
    }
  }

  #catchUp(pool: PoolState): void {
    if (pool.catchingUp || this.#channel === undefined) return
    pool.catchingUp = true
    log('catching up on pool %d updates after %d', pool.spec.poolId, pool.updates.length)
    this.#channel.send({ type: 'catchup', poolId: pool.spec.poolId, from: pool.updates.length })
  }

  #onSlotMessage(slot: SlotState, message: FromSlot): void {
    switch (message.type) {
      case 'loaded': {
        slot.restarts = 0
        slot.phase = 'idle'
        const job = slot.pendingJob
        slot.pendingJob = undefined
        if (job !== undefined) this.#run(slot, job)
        else this.#sendUpdates(slot)
        this.#pump()
        return
      }
      case 'loadFailed': {
        const pool = slot.poolId === undefined ? undefined : this.#pools.get(slot.poolId)
        const error = new WorkerLoadError(message.error.message)
        if (pool !== undefined) pool.loadError = error
        log.error('slot %d could not load its worker: %s', slot.process.index, message.error.message)
        slot.poolId = undefined
        slot.phase = 'idle'
        const job = slot.pendingJob
        slot.pendingJob = undefined
        if (job !== undefined)
          this.#report({ jobId: job.jobId, leaseId: job.leaseId, ok: false, error: errorShape(error) })
        this.#pump()
        return
      }
      case 'disposed': {
        slot.poolId = undefined
        slot.phase = 'idle'
        const job = slot.pendingJob
        const pool = job === undefined ? undefined : this.#pools.get(job.poolId)
        if (pool !== undefined) this.#load(slot, pool)
        else this.#pump()
        return
      }
      case 'result': {
        const job = slot.job
        if (job === undefined || job.jobId !== message.jobId) return
        slot.job = undefined
        slot.phase = 'idle'
        this.#report(
          message.ok
            ? { jobId: job.jobId, leaseId: job.leaseId, ok: true, value: message.value }
            : { jobId: job.jobId, leaseId: job.leaseId, ok: false, error: message.error },
        )
        this.#pump()
        return
      }
    }
  }

  #onSlotExit(slot: SlotState, description: string): void {
    const lost = [slot.job, slot.pendingJob].filter((job): job is LeasedJob => job !== undefined)
    for (const job of lost) {
      this.#report({
        jobId: job.jobId,
        leaseId: job.leaseId,
        ok: false,
        lost: true,
        error: { name: 'SlotDied', message: description },
      })
    }
    slot.job = undefined
    slot.pendingJob = undefined
    slot.poolId = undefined
    slot.phase = 'down'
    if (this.#stopped) return
    const delay = RESTART_BACKOFF_MS[Math.min(slot.restarts, RESTART_BACKOFF_MS.length - 1)] as number
    slot.restarts++
    setTimeout(() => this.#startSlot(slot), delay).unref()
    this.#pump()
  }

  #startSlot(slot: SlotState): void {
    if (this.#stopped) return
    slot.process.start()
    slot.phase = 'idle'
    this.#pump()
  }

  #report(outcome: JobOutcome): void {
    this.#results.push(outcome)
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    setImmediate(() => {
      this.#flushScheduled = false
      const results = this.#results
      this.#results = []
      this.#channel?.send({ type: 'results', results })
    })
  }
}

import { logger } from '@libp2p/logger'
import {
  errorShape,
  type HeadToNodeMessage,
  type LeasedJob,
  type NodeMessage,
  NodeRefusedError,
  type PeerInfo,
  type PoolSpec,
  TimeoutError,
  type UpdateEntry,
  WorkerLoadError,
} from '@meshpool/core'
import type { Channel } from '../net/channel.js'
import type { FromSlot } from '../slot/protocol.js'
import type { GpuInfo } from '../worker-types.js'
import { AgentReports } from './agent-reports.js'
import { gpuSlotEnv } from './gpus.js'
import { afterSlotDeath, deathNotice, killNotice, restartAfter, whatItHeld } from './slot-deaths.js'
import { DISPOSE_GRACE_MS, disposeForStop, disposeIfClosed, forgetClosedPools } from './slot-disposal.js'
import { SlotProcess } from './slot-process.js'
import {
  depthFor,
  hasRoom,
  newPoolState,
  newSlotState,
  type PoolState,
  quotaLeft,
  type RunningJob,
  type SlotState,
  slotFor,
  slotStateName,
} from './slot-scheduling.js'
import type { SlotUser } from './slot-user.js'
import { SlotWaits } from './slot-waits.js'

const log = logger('meshpool:agent')

/** Failed fetches of a pool's shipped code in a row before the pool counts as unable to start here. */
const MAX_FETCH_FAILURES = 3
/** How long a job may ignore its aborted ctx.signal before its slot is killed and replaced. */
export const ABORT_GRACE_MS = 1000
/** Heartbeats go out at this fraction of the shortest lease held. */
const HEARTBEAT_FRACTION = 1 / 3
const DEFAULT_HEARTBEAT_MS = 1000

export interface NodeAgentInit {
  /** CPU slots; ignored when `gpus` names any. */
  slots: number
  name: string
  /** One slot per GPU, each seeing only its own (`CUDA_VISIBLE_DEVICES`). */
  gpus?: readonly GpuInfo[]
  /** Where a slot imports a pool's worker from: shipped code is fetched and cached first. @default the client's path */
  modulePath?: (spec: PoolSpec) => Promise<string>
  /** The node's own log: what its workers print (prefixed with node and slot) and notes about pools. */
  onLine?: (line: string) => void
  /** Where other nodes can reach this one, told to the head in `hello`. */
  addrs?: () => string[]
  /** Other nodes the head named, to keep as mesh neighbours. */
  onPeers?: (peers: PeerInfo[]) => void
  /** Peers the head revoked (this node among them, maybe). */
  onRevoked?: (peerIds: string[]) => void
  /** The head's allow-list: the only peers this node may let in. */
  onAllowed?: (peerIds: string[]) => void
  /** The head asks this node to leave gracefully (`meshpool stop`). */
  onStopAsked?: () => void
  /**
   * Lines a worker printed once no head serves its pool (its `dispose()` after the
   * pool closed, or as the node stops without a head): they go to the node's log,
   * and here. The embedded pool passes them to its own output.
   */
  onLateLine?: (line: string) => void
  /** Slot processes run as this user (`--slot-user`). @default the node's own user */
  slotUser?: SlotUser
}

/**
 * A node's agent: it pulls leased jobs from the head, runs each in one of its
 * slot processes, applies cache updates in order between jobs, renews its
 * leases by heartbeat, and reports results. Slots that die are restarted;
 * their jobs go back to the head. Timeouts and cancels abort the job's
 * ctx.signal, and a job that ignores it loses its slot.
 */
export class NodeAgent {
  readonly slots: number
  readonly #name: string
  readonly #modulePath: (spec: PoolSpec) => Promise<string>
  readonly #addrs: () => string[]
  readonly #onPeers: (peers: PeerInfo[]) => void
  readonly #onRevoked: (peerIds: string[]) => void
  readonly #onAllowed: (peerIds: string[]) => void
  readonly #onStopAsked: () => void
  readonly #onLateLine: (line: string) => void
  readonly #reports: AgentReports
  readonly #slots: SlotState[] = []
  readonly #pools = new Map<number, PoolState>()
  #queue: LeasedJob[] = []
  #channel: Channel<HeadToNodeMessage, NodeMessage> | undefined
  #nodeId = ''
  #requested = 0
  #stopped = false
  #draining = false
  readonly #waits = new SlotWaits()
  #heartbeat: NodeJS.Timeout | undefined
  #welcomeWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = []
  #refusal: Error | undefined

  constructor(init: NodeAgentInit) {
    const gpus = init.gpus !== undefined && init.gpus.length > 0 ? init.gpus : undefined
    this.slots = gpus?.length ?? init.slots
    this.#name = init.name
    this.#modulePath = init.modulePath ?? (async (spec) => spec.worker)
    this.#addrs = init.addrs ?? (() => [])
    this.#onPeers = init.onPeers ?? (() => {})
    this.#onRevoked = init.onRevoked ?? (() => {})
    this.#onAllowed = init.onAllowed ?? (() => {})
    this.#onStopAsked = init.onStopAsked ?? (() => {})
    this.#onLateLine = init.onLateLine ?? (() => {})
    this.#reports = new AgentReports({
      send: (message) => this.#channel?.send(message),
      welcomed: () => this.#channel !== undefined && this.#nodeId !== '',
      ...(init.onLine === undefined ? {} : { onLine: init.onLine }),
    })
    for (let i = 0; i < this.slots; i++) {
      const gpu = gpus?.[i] ?? null
      const state: SlotState = newSlotState(
        new SlotProcess(
          i,
          {
            message: (message) => {
              this.#onSlotMessage(state, message)
              this.#waits.changed()
            },
            exit: (description) => {
              this.#onSlotExit(state, description)
              this.#waits.changed()
            },
            output: (line) => this.#onSlotOutput(state, line),
          },
          gpu === null ? {} : gpuSlotEnv(gpu),
          init.slotUser,
        ),
        gpu,
      )
      this.#slots.push(state)
    }
  }

  /** Starts the slot processes. */
  start(): void {
    for (const slot of this.#slots) this.#startSlot(slot)
  }

  /**
   * Serves the head on a channel. Called again after a reconnect: jobs not
   * started are dropped (the head has requeued them), while running jobs go on
   * and their results, like those not yet sent, go to the head on the new
   * connection: a late result still wins if its job is open.
   */
  connect(channel: Channel<HeadToNodeMessage, NodeMessage>): Promise<Error | undefined> {
    this.#channel = channel
    this.#queue = []
    this.#requested = 0
    this.#nodeId = ''
    for (const slot of this.#slots) slot.pendingJob = undefined
    return new Promise((resolve) => {
      channel.start({
        message: (message) => this.#onHeadMessage(message),
        close: (reason) => {
          if (this.#channel === channel) this.#channel = undefined
          resolve(reason)
        },
      })
      const addrs = this.#addrs()
      const gpus = this.#slots.flatMap(({ gpu }) =>
        gpu === null ? [] : [{ index: gpu.index, name: gpu.name, memoryMB: gpu.memoryTotalMB }],
      )
      channel.send({
        type: 'hello',
        name: this.#name,
        slots: this.slots,
        ...(addrs.length > 0 ? { addrs } : {}),
        ...(gpus.length > 0 ? { gpus } : {}),
      })
      this.#scheduleHeartbeat()
    })
  }

  /** Resolves once the head has welcomed this node on the current connection. */
  welcomed(): Promise<void> {
    if (this.#nodeId !== '') return Promise.resolve()
    if (this.#refusal !== undefined) return Promise.reject(this.#refusal)
    return new Promise((resolve, reject) => this.#welcomeWaiters.push({ resolve, reject }))
  }

  /** Takes an update heard on gossip (or from the head directly). */
  onUpdates(entries: UpdateEntry[]): void {
    const touched = new Set<number>()
    for (const entry of entries) {
      const pool = this.#pools.get(entry.poolId)
      if (pool === undefined) continue // learnt with the pool's first lease, through catch-up
      const taken = pool.updates.accept(entry)
      if (taken === 'old') continue
      if (taken === 'gap') this.#catchUp(pool)
      touched.add(entry.poolId)
    }
    if (touched.size === 0) return
    for (const slot of this.#slots) {
      if (slot.poolId !== undefined && touched.has(slot.poolId) && slot.phase !== 'loading') this.#sendUpdates(slot)
    }
    this.#pump()
  }

  /** Updates too big for gossip were logged: fetch those this node lacks from the head now. */
  onAnnounced(announced: Array<{ poolId: number; seq: number }>): void {
    for (const { poolId, seq } of announced) {
      const pool = this.#pools.get(poolId)
      if (pool === undefined) continue
      pool.updates.wanted = Math.max(pool.updates.wanted, seq)
      if (pool.updates.known < seq && !pool.updates.allComing(seq)) this.#catchUp(pool)
    }
  }

  /** Whether this node has the pool (a node learns of a pool, and then its updates, with its first lease). */
  hasPool(poolId: number): boolean {
    return this.#pools.has(poolId)
  }

  /** A big update is being fetched as a blob (or no longer is): catch-ups meanwhile leave it out. */
  blobComing(poolId: number, seq: number, coming: boolean): void {
    const updates = this.#pools.get(poolId)?.updates
    if (coming) updates?.blobsComing.add(seq)
    else updates?.blobsComing.delete(seq)
  }

  /** Asks the head for more nodes to keep as mesh neighbours. */
  findPeers(): void {
    this.#channel?.send({ type: 'findPeers' })
  }

  /**
   * Stops taking work: jobs not started go back to the head at once, running
   * ones may finish within `timeoutMs`. Resolves once the slots are idle (or
   * the time is up) and the results are sent.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.#draining = true
    const unstarted = this.#queue.map((job) => job.jobId)
    for (const slot of this.#slots) {
      if (slot.pendingJob !== undefined) unstarted.push(slot.pendingJob.jobId)
      slot.pendingJob = undefined
      // Jobs waiting their turn inside a slot have not started: skip them there, run them elsewhere.
      for (const waiting of slot.assigned.slice(1)) {
        if (waiting.abandoned) continue
        waiting.abandoned = true
        slot.process.send({ type: 'abort', jobId: waiting.job.jobId, reason: 'cancel' })
        unstarted.push(waiting.job.jobId)
      }
    }
    this.#queue = []
    if (unstarted.length > 0) this.#channel?.send({ type: 'release', jobIds: unstarted })
    await this.#waits.until(() => this.#busySlots() === 0, timeoutMs)
    this.#reports.flushResults()
  }

  /**
   * Stops the node: each slot's worker is disposed of first (its output still
   * goes to its pool's client while the head is there), then the processes end.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    // What still runs (past the drain, or of a pool whose close did not reach here) can't be reported any more.
    for (const slot of this.#slots) {
      for (const running of slot.assigned) if (!running.abandoned) this.#abort(slot, running, 'cancel')
    }
    await Promise.all(this.#slots.map((slot) => disposeForStop(slot, this.#waits, ABORT_GRACE_MS)))
    clearTimeout(this.#heartbeat)
    this.#reports.flushResults()
    this.#reports.flushOutput()
    this.#channel?.close()
    for (const slot of this.#slots) for (const running of slot.assigned) clearTimeout(running.timer)
    await Promise.all(this.#slots.map((slot) => slot.process.stop()))
  }

  #onHeadMessage(message: HeadToNodeMessage): void {
    switch (message.type) {
      case 'welcome':
        this.#nodeId = message.nodeId
        for (const waiter of this.#welcomeWaiters.splice(0)) waiter.resolve()
        this.#reports.flushResults()
        this.#pull()
        return
      case 'pool':
        if (!this.#pools.has(message.pool.poolId)) {
          const module = this.#modulePath(message.pool)
          module.catch(() => {}) // reported when a slot loads the pool
          this.#pools.set(message.pool.poolId, newPoolState(message.pool, module))
          this.#scheduleHeartbeat()
        }
        return
      case 'lease':
        this.#requested = Math.max(0, this.#requested - message.jobs.length)
        if (this.#draining) {
          this.#channel?.send({ type: 'release', jobIds: message.jobs.map((job) => job.jobId) })
          return
        }
        this.#queue.push(...message.jobs)
        this.#pump()
        return
      case 'updates':
        for (const pool of this.#pools.values()) pool.updates.catchingUp = false
        if (message.dropped !== undefined) {
          const pool = this.#pools.get(message.dropped.poolId)
          pool?.updates.skipTo(message.dropped.through)
          if (pool !== undefined)
            log('pool %d: updates up to %d are past the log budget', pool.spec.poolId, message.dropped.through)
        }
        this.onUpdates(message.entries)
        // Heard of more while that catch-up was out: fetch the rest.
        for (const pool of this.#pools.values()) if (pool.updates.known < pool.updates.wanted) this.#catchUp(pool)
        this.#pump()
        return
      case 'cancel':
        this.#cancel(new Set(message.jobIds))
        if (message.closedPools !== undefined) this.#closePools(message.closedPools)
        return
      case 'seqs':
        // Gossip may have missed some (a cut link, a dropped message): fetch them, no job needed.
        this.onAnnounced(message.seqs)
        return
      case 'peers':
        this.#onPeers(message.peers)
        return
      case 'revoked':
        this.#onRevoked(message.peerIds)
        return
      case 'allowed':
        this.#onAllowed(message.peerIds)
        return
      case 'stop':
        this.#onStopAsked()
        return
      case 'refused':
        this.#refusal = new NodeRefusedError(`the head refused this node: ${message.message}`)
        for (const waiter of this.#welcomeWaiters.splice(0)) waiter.reject(this.#refusal)
        return
    }
  }

  #cancel(jobIds: Set<number>): void {
    this.#queue = this.#queue.filter((job) => !jobIds.has(job.jobId))
    for (const slot of this.#slots) {
      if (slot.pendingJob !== undefined && jobIds.has(slot.pendingJob.jobId)) slot.pendingJob = undefined
      for (const running of slot.assigned) {
        if (!running.abandoned && jobIds.has(running.job.jobId)) this.#abort(slot, running, 'cancel')
      }
    }
    this.#pump()
  }

  /** Pools whose client is gone: their workers go as soon as their slots are idle, and so does what the node kept of them. */
  #closePools(poolIds: number[]): void {
    for (const poolId of poolIds) {
      const pool = this.#pools.get(poolId)
      if (pool === undefined) continue
      pool.closed = true
      this.#queue = this.#queue.filter((job) => job.poolId !== poolId)
    }
    for (const slot of this.#slots) disposeIfClosed(slot, this.#pools)
    forgetClosedPools(this.#pools, this.#slots)
    this.#pump()
  }

  /**
   * Aborts a job handed to a slot: its answer is dropped; if it is running and
   * doesn't stop within the grace period, the slot is killed and replaced.
   */
  #abort(slot: SlotState, running: RunningJob, reason: 'timeout' | 'cancel'): void {
    running.abandoned = true
    clearTimeout(running.timer)
    slot.process.send({ type: 'abort', jobId: running.job.jobId, reason })
    running.timer = setTimeout(() => {
      if (slot.assigned[0] !== running) return
      this.#notice(killNotice(slot.process.index, running.job, reason, ABORT_GRACE_MS))
      slot.process.kill()
    }, ABORT_GRACE_MS)
  }

  /** Asks the head for as many jobs as free capacity allows. */
  #pull(): void {
    if (this.#channel === undefined || this.#stopped || this.#draining || this.#nodeId === '') return
    let capacity = 0
    for (const slot of this.#slots) {
      if (slot.phase === 'down' || slot.phase === 'broken') continue
      const pool = slot.poolId === undefined ? undefined : this.#pools.get(slot.poolId)
      // Enough for the slot's batch, and as much again held here for the next one.
      capacity += 2 * (pool === undefined ? 1 : depthFor(pool))
    }
    let held = this.#queue.length
    for (const slot of this.#slots) held += slot.assigned.length + (slot.pendingJob === undefined ? 0 : 1)
    const n = capacity - held - this.#requested
    if (n <= 0) return
    this.#requested += n
    this.#channel.send({ type: 'pull', n })
  }

  /**
   * Hands queued jobs to slots: to a slot that holds the job's pool and has
   * room first, else to an empty slot (loading the pool's worker there).
   * Each slot gets its jobs in one message.
   */
  #pump(): void {
    if (this.#queue.length > 0 && this.#slots.every((s) => s.phase === 'broken' || s.phase === 'down')) {
      // No slot can run them here now (broken, or waiting to restart): give them back to run elsewhere.
      this.#channel?.send({ type: 'release', jobIds: this.#queue.map((job) => job.jobId) })
      this.#queue = []
    }
    if (this.#queue.length > 0 && hasRoom(this.#slots, this.#pools, new Map())) {
      const batches = new Map<SlotState, LeasedJob[]>()
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
          this.#reports.result({
            jobId: job.jobId,
            leaseId: job.leaseId,
            ok: false,
            error: errorShape(new Error('no pool spec for job')),
          })
          continue
        }
        if (pool.loadError !== undefined) {
          this.#tellUnloadable(pool) // a head that reconnected must hear it before the jobs come back
          unloadable.push(job.jobId) // other nodes may run it
          continue
        }
        if (pool.updates.known < job.updateSeq) {
          this.#catchUp(pool)
          waiting.push(job)
          continue
        }
        const slot = slotFor(this.#slots, job, pool, batches, waitingHere)
        if (slot === undefined) {
          waiting.push(job)
          continue
        }
        if (slot.poolId === job.poolId && slot.phase === 'ready') {
          const batch = batches.get(slot)
          if (batch === undefined) batches.set(slot, [job])
          else batch.push(job)
        } else {
          this.#prepare(slot, job, pool)
        }
      }
      this.#queue = next === this.#queue.length ? waiting : waiting.concat(this.#queue.slice(next))
      for (const [slot, jobs] of batches) this.#run(slot, jobs)
      if (unloadable.length > 0) this.#channel?.send({ type: 'release', jobIds: unloadable })
    }
    this.#pull()
  }

  /** Gets a slot ready for a job of another pool: dispose of its worker, load the job's. */
  #prepare(slot: SlotState, job: LeasedJob, pool: PoolState): void {
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
    const stillLoading = (): boolean => slot.phase === 'loading' && slot.poolId === pool.spec.poolId
    pool.module.then(
      (url) => {
        pool.fetchFailures = 0
        if (!stillLoading()) return
        slot.process.send({
          type: 'load',
          worker: pool.spec.worker,
          url,
          shipped: pool.spec.codeHash !== undefined,
          init: pool.spec.init,
          nodeId: this.#nodeId,
          slot: slot.process.index,
          gpu: slot.gpu,
        })
      },
      (err: Error) => {
        if (!stillLoading()) return
        const error = new WorkerLoadError(`can't fetch the shipped worker ${pool.spec.worker}: ${err.message}`)
        if (++pool.fetchFailures >= MAX_FETCH_FAILURES) {
          this.#onSlotMessage(slot, { type: 'loadFailed', error: errorShape(error) })
          return
        }
        // Most likely the connection dropped: give the job back and fetch again for the next one.
        log('%s; trying again', error.message)
        pool.module = this.#modulePath(pool.spec)
        pool.module.catch(() => {})
        const job = slot.pendingJob
        slot.pendingJob = undefined
        if (job !== undefined) this.#channel?.send({ type: 'release', jobIds: [job.jobId] })
        slot.poolId = undefined
        slot.phase = 'ready'
        this.#pump()
      },
    )
  }

  /** Tells the head (once per connection) that a pool can't start here, so it leases the pool's jobs elsewhere. */
  #tellUnloadable(pool: PoolState): void {
    if (pool.loadError === undefined || this.#channel === undefined || pool.loadErrorToldOn === this.#channel) return
    pool.loadErrorToldOn = this.#channel
    this.#channel.send({
      type: 'loadFailed',
      poolId: pool.spec.poolId,
      error: { name: 'WorkerLoadError', message: pool.loadError.message },
    })
  }

  #run(slot: SlotState, jobs: LeasedJob[]): void {
    this.#sendUpdates(slot)
    slot.jobsRun += jobs.length
    for (const job of jobs) {
      const running: RunningJob = { job, abandoned: false, timer: undefined }
      slot.assigned.push(running)
      if (job.timeoutMs > 0) {
        slot.timed++
        running.timer = setTimeout(() => {
          if (running.abandoned || !slot.assigned.includes(running)) return
          const error = new TimeoutError(`run() did not finish within timeoutMs ${job.timeoutMs}`)
          this.#reports.result({ jobId: job.jobId, leaseId: job.leaseId, ok: false, error: errorShape(error) })
          this.#abort(slot, running, 'timeout')
        }, job.timeoutMs)
      }
    }
    slot.process.send({
      type: 'run',
      jobs: jobs.map((job) => ({ jobId: job.jobId, attempt: job.attempt, params: job.params })),
    })
  }

  #sendUpdates(slot: SlotState): void {
    const pool = slot.poolId === undefined ? undefined : this.#pools.get(slot.poolId)
    if (pool === undefined) return
    const { missed, entries } = pool.updates.pendingFor(slot.sentSeq)
    // Updates this slot never got that are gone (past the log budget): the worker is told how many.
    if (missed > 0) slot.process.send({ type: 'missed', count: missed })
    slot.sentSeq += missed
    for (const entry of entries) {
      slot.process.send({ type: 'update', seq: entry.seq, value: entry.value })
      slot.sentSeq = entry.seq
    }
  }

  #catchUp(pool: PoolState): void {
    if (pool.updates.catchingUp || this.#channel === undefined) return
    pool.updates.catchingUp = true
    log('catching up on pool %d updates after %d', pool.spec.poolId, pool.updates.known)
    this.#channel.send({ type: 'catchup', poolId: pool.spec.poolId, from: pool.updates.known })
  }

  #onSlotMessage(slot: SlotState, message: FromSlot): void {
    switch (message.type) {
      case 'loaded': {
        slot.phase = 'ready'
        const job = slot.pendingJob
        slot.pendingJob = undefined
        if (job !== undefined) this.#run(slot, [job])
        else this.#sendUpdates(slot)
        disposeIfClosed(slot, this.#pools)
        this.#pump()
        return
      }
      case 'loadFailed': {
        const pool = slot.poolId === undefined ? undefined : this.#pools.get(slot.poolId)
        log.error('slot %d could not load its worker: %s', slot.process.index, message.error.message)
        const job = slot.pendingJob
        slot.pendingJob = undefined
        if (job !== undefined) this.#channel?.send({ type: 'release', jobIds: [job.jobId] })
        if (pool !== undefined && pool.loadError === undefined) {
          // The pool can't start on this node: the head leases it no more here and the jobs go elsewhere.
          pool.loadError = new WorkerLoadError(message.error.message)
          this.#notice(`pool ${pool.spec.poolId} (${pool.spec.worker}) can't start here: ${message.error.message}`)
          this.#tellUnloadable(pool)
        }
        slot.poolId = undefined
        slot.phase = 'ready'
        this.#pump()
        return
      }
      case 'disposed': {
        if (slot.phase === 'recycling') {
          void slot.process.stop().then(() => {
            this.#waits.changed()
            this.#startSlot(slot)
          })
          return
        }
        slot.poolId = undefined
        slot.phase = 'ready'
        forgetClosedPools(this.#pools, this.#slots)
        if (this.#stopped) return
        const job = slot.pendingJob
        const pool = job === undefined ? undefined : this.#pools.get(job.poolId)
        if (pool !== undefined) this.#load(slot, pool)
        else this.#pump()
        return
      }
      case 'output':
        for (const line of message.lines) this.#onSlotOutput(slot, line)
        return
      case 'progress': {
        const running = slot.assigned.find((r) => r.job.jobId === message.jobId)
        if (running === undefined || running.abandoned) return
        this.#reports.progress({ jobId: message.jobId, leaseId: running.job.leaseId, fraction: message.fraction })
        return
      }
      case 'results': {
        const pool = slot.poolId === undefined ? undefined : this.#pools.get(slot.poolId)
        for (const result of message.results) {
          const at = slot.assigned.findIndex((r) => r.job.jobId === result.jobId)
          if (at < 0) continue
          const [running] = slot.assigned.splice(at, 1) as [RunningJob]
          clearTimeout(running.timer)
          if (running.job.timeoutMs > 0) slot.timed--
          slot.crashes = 0
          if (pool !== undefined) pool.avgMs += (result.ms - pool.avgMs) * 0.2
          if (running.abandoned) continue
          const job = running.job
          this.#reports.result(
            result.ok
              ? { jobId: job.jobId, leaseId: job.leaseId, ok: true, value: result.value }
              : { jobId: job.jobId, leaseId: job.leaseId, ok: false, error: result.error },
          )
        }
        if (slot.assigned.length === 0 && quotaLeft(slot, pool) <= 0) {
          // maxJobsPerSlot: dispose of the worker, then a fresh process takes the slot's place.
          log('slot %d ran %d jobs: replacing its process (maxJobsPerSlot)', slot.process.index, slot.jobsRun)
          slot.phase = 'recycling'
          slot.process.send({ type: 'dispose' })
          // A dispose() that never returns doesn't keep the slot from its replacement.
          setTimeout(() => {
            if (slot.phase === 'recycling') slot.process.kill()
          }, DISPOSE_GRACE_MS).unref()
        } else disposeIfClosed(slot, this.#pools)
        this.#pump()
        return
      }
    }
  }

  /**
   * A line a worker printed: to the node's own log, and to the client whose
   * pool the slot holds (never to another's), or, once no head serves that
   * pool, to onLateLine.
   */
  #onSlotOutput(slot: SlotState, line: string): void {
    const text = `[${this.#name}/${slot.process.index}] ${line}`
    const pool = slot.poolId === undefined ? undefined : this.#pools.get(slot.poolId)
    if (pool !== undefined && (pool.closed || this.#channel === undefined)) {
      this.#reports.line(text)
      this.#onLateLine(text)
      return
    }
    this.#reports.line(text, slot.poolId)
  }

  /** A note about this node's pools for its own log. */
  #notice(text: string): void {
    this.#reports.line(`[${this.#name}] ${text}`)
  }

  #onSlotExit(slot: SlotState, description: string): void {
    for (const r of slot.assigned) clearTimeout(r.timer)
    const death = afterSlotDeath(slot)
    const { lost, release, blameless } = death
    const held = whatItHeld(slot, death)
    for (const job of lost) {
      this.#reports.result({
        jobId: job.jobId,
        leaseId: job.leaseId,
        ok: false,
        lost: true,
        error: { name: 'SlotDied', message: description },
      })
    }
    if (release.length > 0) this.#channel?.send({ type: 'release', jobIds: release })
    slot.assigned = []
    slot.timed = 0
    slot.pendingJob = undefined
    slot.poolId = undefined
    slot.phase = 'down'
    this.#pump()
    if (this.#stopped) return
    if (!blameless) slot.crashes++
    const { broken, delayMs } = restartAfter(slot.crashes)
    this.#notice(deathNotice(description, held, slot.crashes))
    if (broken) {
      slot.phase = 'broken'
      log.error(
        'slot %d is broken: it crashed %d times in a row (%s); not restarting it',
        slot.process.index,
        slot.crashes,
        description,
      )
      process.emitWarning(
        `meshpool: slot ${slot.process.index} crashed ${slot.crashes} times in a row (last: ${description}); it stays down`,
      )
      this.#reports.flushResults() // the head hears of the jobs lost in this crash first
      this.#channel?.send({ type: 'slots', slots: this.#slots.filter((s) => s.phase !== 'broken').length })
      this.#pump()
      return
    }
    setTimeout(() => this.#startSlot(slot), delayMs).unref()
    this.#pump()
  }

  #busySlots(): number {
    return this.#slots.filter((s) => s.assigned.some((r) => !r.abandoned)).length
  }

  #startSlot(slot: SlotState): void {
    if (this.#stopped) return
    slot.jobsRun = 0
    slot.poolId = undefined
    slot.process.start()
    slot.phase = 'ready'
    this.#pump()
  }

  /** Heartbeats renew every lease this node holds; they come from this process, never from a busy slot. */
  #scheduleHeartbeat(): void {
    clearTimeout(this.#heartbeat)
    if (this.#stopped || this.#channel === undefined) return
    let leaseMs = Number.POSITIVE_INFINITY
    for (const pool of this.#pools.values()) leaseMs = Math.min(leaseMs, pool.spec.leaseMs)
    const every = Number.isFinite(leaseMs)
      ? Math.max(50, Math.floor(leaseMs * HEARTBEAT_FRACTION))
      : DEFAULT_HEARTBEAT_MS
    this.#heartbeat = setTimeout(() => {
      this.#channel?.send({ type: 'heartbeat', slotStates: this.#slots.map(slotStateName) })
      this.#scheduleHeartbeat()
    }, every)
    this.#heartbeat.unref()
  }
}

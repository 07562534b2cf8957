import type { Logger } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { HeadToNodeMessage, NodeMessage, UpdateEntry } from '@meshpool/core'
import type { Channel } from '../net/channel.js'
import type { GpuInfo } from '../worker-types.js'
import type { NodeAgentInit } from './agent-init.js'
import { Dispatcher } from './dispatcher.js'
import { gpuSlotEnv } from './gpus.js'
import { HeadLink } from './head-link.js'
import { NodePools } from './node-pools.js'
import { NodeShares, noSharedSource } from './node-shares.js'
import { paramsFetcher } from './params-fetch.js'
import { ResultDelivery } from './result-delivery.js'
import { Slot } from './slot.js'
import { SlotProcess, type SlotProcessEvents } from './slot-process.js'
import type { SlotEvents } from './slot-types.js'
import { SlotWaits } from './slot-waits.js'
import { UpdateSync } from './update-sync.js'

/**
 * A node's agent: it pulls leased jobs from the head, runs each in one of its
 * slot processes, applies cache updates in order between jobs, renews its
 * leases by heartbeat, and reports results. Slots that die are restarted;
 * their jobs go back to the head. Timeouts and cancels abort the job's
 * ctx.signal, and a job that ignores it loses its slot.
 *
 * The agent only wires its parts together: the {@link HeadLink}, the
 * {@link NodePools}, the {@link UpdateSync}, the {@link Dispatcher} and a
 * {@link Slot} per slot.
 */
export class NodeAgent {
  readonly slots: number
  readonly #init: NodeAgentInit
  readonly #link: HeadLink
  readonly #pools: NodePools
  readonly #updates: UpdateSync
  readonly #dispatcher: Dispatcher
  readonly #slots: Slot[] = []
  readonly #waits = new SlotWaits()
  readonly #shares: NodeShares
  /** Where big results go before the head hears of them; none: in frames. */
  readonly #delivery: ResultDelivery | undefined
  #stopped = false

  constructor(init: NodeAgentInit) {
    const gpus = init.gpus !== undefined && init.gpus.length > 0 ? init.gpus : undefined
    this.slots = gpus?.length ?? init.slots
    this.#init = init
    this.#shares = init.shares ?? new NodeShares(noSharedSource)
    const log = init.log ?? logger(`meshpool:node:${init.name}`)
    this.#link = new HeadLink({
      hello: () => this.#hello(),
      onMessage: (message) => this.#onHeadMessage(message),
      shortestLeaseMs: () => this.#pools.shortestLeaseMs(),
      holding: () => this.#dispatcher.holding() || (this.#delivery?.pending ?? 0) > 0,
      slotStates: () => this.#slots.map((slot) => slot.state),
      ...(init.onLine === undefined ? {} : { onLine: init.onLine }),
    })
    const head = this.#link
    this.#delivery =
      init.routes === undefined
        ? undefined
        : new ResultDelivery(
            init.routes,
            (o) => head.result(o),
            () => this.#waits.changed(),
          )
    const modulePath = init.modulePath ?? (async (spec) => spec.worker)
    this.#pools = new NodePools({ modulePath, head, notice: (text) => this.#notice(text), log })
    this.#dispatcher = new Dispatcher({
      slots: this.#slots,
      pools: this.#pools,
      head: {
        release: (jobIds) => head.send({ type: 'release', jobIds }),
        result: (outcome) => head.result(outcome),
        pull: (want) => head.pull(want),
      },
      catchUp: (pool) => this.#updates.catchUp(pool),
      ...(init.routes === undefined ? {} : { fetchParams: paramsFetcher(init.routes) }),
    })
    const pump = (): void => this.#dispatcher.pump()
    this.#updates = new UpdateSync({ pools: this.#pools, slots: this.#slots, head, pump, log })
    for (let i = 0; i < this.slots; i++) this.#slots.push(this.#slot(i, gpus?.[i] ?? null, log))
  }

  /** Starts the slot processes, and the heartbeats of the head link. */
  start(): void {
    this.#link.start()
    for (const slot of this.#slots) slot.start()
  }

  /**
   * Serves the head on a channel. Called again after a reconnect: jobs not
   * started are dropped (the head has requeued them), while running jobs go on
   * and their results, like those not yet sent, go to the head on the new
   * connection: a late result still wins if its job is open.
   */
  connect(channel: Channel<HeadToNodeMessage, NodeMessage>): Promise<Error | undefined> {
    this.#dispatcher.reset()
    return this.#link.connect(channel)
  }

  /** Resolves once the head has welcomed this node on the current connection. */
  welcomed(): Promise<void> {
    return this.#link.welcomed()
  }

  /** Takes an update heard on gossip (or from the head directly). */
  onUpdates(entries: UpdateEntry[]): void {
    this.#updates.take(entries)
  }

  /** Updates too big for gossip were logged: fetch those this node lacks from the head now. */
  onAnnounced(announced: Array<{ poolId: number; seq: number }>): void {
    this.#updates.announced(announced)
  }

  /** Whether this node has the pool (a node learns of a pool, and then its updates, with its first lease). */
  hasPool(poolId: number): boolean {
    return this.#pools.has(poolId)
  }

  /** A big update is being fetched as a blob (or no longer is): catch-ups meanwhile leave it out. */
  blobComing(poolId: number, seq: number, coming: boolean): void {
    this.#updates.blobComing(poolId, seq, coming)
  }

  /** Asks the head for more nodes to keep as mesh neighbours. */
  findPeers(): void {
    this.#link.send({ type: 'findPeers' })
  }

  /**
   * Stops taking work: jobs not started go back to the head at once, running
   * ones may finish within `timeoutMs`. Resolves once the slots are idle (or
   * the time is up) and the results are sent.
   */
  async drain(timeoutMs: number): Promise<void> {
    const unstarted = this.#dispatcher.drain()
    if (unstarted.length > 0) this.#link.send({ type: 'release', jobIds: unstarted })
    // Running jobs finish, and their big results reach their clients.
    await this.#waits.until(() => this.#dispatcher.busySlots() === 0 && (this.#delivery?.pending ?? 0) === 0, timeoutMs)
    this.#link.flushResults()
  }

  /**
   * Stops the node: each slot's worker is disposed of first (its output still
   * goes to its pool's client while the head is there), then the processes end.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#dispatcher.stop()
    this.#link.leave()
    await Promise.all(this.#slots.map((slot) => slot.dispose()))
    this.#link.stop()
    await Promise.all(this.#slots.map((slot) => slot.stop()))
  }

  #onHeadMessage(message: HeadToNodeMessage): void {
    switch (message.type) {
      case 'welcome':
        this.#dispatcher.pull()
        break
      case 'pool':
        if (this.#pools.add(message.pool)) this.#link.leasesChanged()
        break
      case 'lease':
        this.#link.leased(message.jobs.length)
        this.#dispatcher.lease(message.jobs)
        break
      case 'updates':
        if (message.live === true) this.#updates.take(message.entries)
        else this.#updates.caughtUp(message)
        break
      case 'cancel':
        this.#dispatcher.cancel(new Set(message.jobIds))
        if (message.closedPools !== undefined) this.#closePools(message.closedPools)
        if (message.unshared !== undefined) this.#forgetShared(message.unshared)
        break
      case 'seqs':
        // Gossip may have missed some (a cut link, a dropped message): fetch them, no job needed.
        this.#updates.announced(message.seqs)
        break
      case 'peers':
        this.#init.onPeers?.(message.peers)
        break
      case 'revoked':
        this.#init.onRevoked?.(message.peerIds)
        break
      case 'allowed':
        this.#init.onAllowed?.(message.peerIds)
        break
      case 'stop':
        this.#init.onStopAsked?.()
        break
    }
  }

  #closePools(poolIds: number[]): void {
    this.#dispatcher.closePools(poolIds)
    for (const poolId of poolIds) this.#forgetShared(this.#shares.poolClosed(poolId))
  }

  /** Shared values gone from this node: its slots drop what they decoded of them too. */
  #forgetShared(hashes: string[]): void {
    if (hashes.length === 0) return
    this.#shares.drop(hashes)
    for (const slot of this.#slots) slot.forgetShared(hashes)
  }

  #hello(): Extract<NodeMessage, { type: 'hello' }> {
    const addrs = this.#init.addrs?.() ?? []
    const gpus = this.#slots.flatMap(({ gpu }) =>
      gpu === null ? [] : [{ index: gpu.index, name: gpu.name, memoryMB: gpu.memoryTotalMB }],
    )
    return {
      type: 'hello',
      name: this.#init.name,
      slots: this.slots,
      ...(addrs.length > 0 ? { addrs } : {}),
      ...(gpus.length > 0 ? { gpus } : {}),
    }
  }

  #slot(index: number, gpu: GpuInfo | null, log: Logger): Slot {
    const { slotUser, slotProcess } = this.#init
    const env = gpu === null ? {} : gpuSlotEnv(gpu)
    const process =
      slotProcess === undefined
        ? (events: SlotProcessEvents) => new SlotProcess(index, events, { env, user: slotUser, log })
        : (events: SlotProcessEvents) => slotProcess(index, events)
    const nodeId = () => this.#link.nodeId
    return new Slot({
      index,
      gpu,
      process,
      pools: this.#pools,
      shared: (poolId, hash) => this.#shares.value(poolId, hash),
      nodeId,
      waits: this.#waits,
      events: this.#slotEvents(index),
      log,
    })
  }

  #slotEvents(index: number): SlotEvents {
    const link = this.#link
    return {
      outcome: (outcome, poolId) => {
        if (poolId === undefined || this.#delivery === undefined) return link.result(outcome)
        this.#delivery.deliver(outcome, poolId, this.#pools.get(poolId)?.spec.client)
      },
      release: (jobIds) => link.send({ type: 'release', jobIds }),
      progress: (report) => link.progress(report),
      output: (line, poolId) => this.#onSlotOutput(`[${this.#init.name}/${index}] ${line}`, poolId),
      notice: (text) => this.#notice(text),
      cannotStart: (poolId, message) => this.#pools.cannotStart(poolId, message),
      disposed: () => this.#dispatcher.forgetClosedPools(),
      changed: () => this.#dispatcher.pump(),
      broken: () => {
        link.flushResults() // the head hears of the jobs lost in this crash first
        link.send({ type: 'slots', slots: this.#slots.filter((slot) => slot.state !== 'broken').length })
      },
    }
  }

  /**
   * A line a worker printed: to the node's own log, and to the client whose
   * pool the slot holds (never to another's), or, once no head serves that
   * pool, to onLateLine.
   */
  #onSlotOutput(text: string, poolId: number | undefined): void {
    const pool = poolId === undefined ? undefined : this.#pools.get(poolId)
    if (pool !== undefined && (pool.closed || this.#link.connection === undefined)) {
      this.#link.line(text)
      this.#init.onLateLine?.(text)
      return
    }
    this.#link.line(text, poolId)
  }

  /** A note about this node's pools for its own log. */
  #notice(text: string): void {
    this.#link.line(`[${this.#init.name}] ${text}`)
  }
}

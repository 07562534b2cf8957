import { type ErrorShape, type JobLedger, type RoutedOutcome, type SubmittedJob, WorkerLostError } from '@meshpool/core'
import { MAX_SLOT_CRASHES } from '../node/slot-deaths.js'
import { FairShares } from './fair-shares.js'
import type { HeadLog, NodeSession, PoolSession } from './head-types.js'
import type { NodeRegistry } from './node-registry.js'
import type { PoolReach } from './pool-reach.js'
import type { PoolRegistry } from './pool-registry.js'
import type { ResultRouter } from './result-router.js'

/** Most jobs leased to a node in one frame. */
const LEASE_CHUNK = 512
/** Most jobs a node may ask for per slot (short jobs stream to slots in batches). */
export const MAX_WANTED_PER_SLOT = 512
/** Why an embedded head's jobs fail once it has no working slot left. */
const NO_SLOT_LEFT: ErrorShape = {
  name: WorkerLostError.name,
  message: `no slot is left to run the job: every slot crashed ${MAX_SLOT_CRASHES} times in a row and stays down (the warning "slot … crashed" says how the last crash ended); fix what makes the slot exit, then create the pool again`,
}

export interface DispatcherInit {
  ledger: JobLedger
  nodes: NodeRegistry
  pools: PoolRegistry
  router: ResultRouter
  reach: PoolReach
  now: () => number
  /** An embedded head: no node joins but its own (see HeadServiceInit.alone). */
  alone: boolean
  log: HeadLog
}

/**
 * Routes jobs to nodes: what nodes ask for (their credit), what is queued,
 * fair shares between pools (see FairShares), and the jobs no node can run,
 * which fail instead of waiting for ever. What it does for an event costs
 * the same however many nodes there are: it looks at the nodes that want
 * work, and at the pools.
 */
export class Dispatcher {
  readonly #init: DispatcherInit
  readonly #fair: FairShares
  /** Nodes that may want jobs (credit left, not silent); those that don't are dropped as they are met. */
  readonly #wanting = new Set<NodeSession>()
  readonly #leasedNotes = new Map<PoolSession, Array<{ id: number; fraction: number }>>()
  /** Jobs the nodes asked for and got none of, since nothing was queued (see {@link room}). */
  #room = 0

  constructor(init: DispatcherInit) {
    this.#init = init
    this.#fair = new FairShares({ now: init.now, queuedCount: (poolId) => init.ledger.queuedCount(poolId) })
  }

  /** A pool closed (its jobs are gone from the ledger): its slots are free. */
  poolClosed(pool: PoolSession): void {
    this.#fair.removePool(pool.spec.poolId)
    this.dispatch()
  }

  /** A node joined: its slots count in every pool's share. */
  nodeJoined(node: NodeSession): void {
    this.#init.reach.slotsChanged(node, 0)
    this.#fair.setSlots(node, node.slots)
  }

  /** A node stopped renewing its leases: its slots count in no share until it is back. */
  nodeSilent(node: NodeSession): void {
    this.#fair.setSlots(node, 0)
  }

  /** A silent node heartbeats again: its slots count again, and what waits may go to it. */
  nodeBack(node: NodeSession): void {
    this.#fair.setSlots(node, node.slots)
    // What it asked for before it went silent still stands (the node counts it as asked for).
    if (node.wanted > 0) this.#wanting.add(node)
    this.dispatch()
  }

  /** A client's jobs, queued and leased where nodes want them. */
  submit(pool: PoolSession, jobs: readonly SubmittedJob[]): void {
    // From its first jobs on, the pool has a share of the slots, by its weight, whenever it has jobs queued.
    this.#fair.addPool(pool.spec.poolId, pool.weight)
    this.#init.ledger.submitMany(pool.spec.poolId, jobs)
    this.failIfUnrunnable(pool.spec.poolId)
    this.failIfNoSlotLeft()
    this.dispatch()
  }

  /** A client cancels jobs: they leave the queue, and the nodes that run them stop them. */
  cancel(pool: PoolSession, clientJobIds: readonly number[]): void {
    this.#init.router.cancelOnNodes(this.#init.ledger.cancel(pool.spec.poolId, clientJobIds))
  }

  /**
   * Jobs that nodes asked for while nothing was queued for them, as of the
   * last dispatch (0 while jobs wait): what more clients could have in flight
   * before the mesh, not their window, holds them back. A hint that clients
   * hear with their results.
   */
  get room(): number {
    return this.#room
  }

  /** A node asks for `n` more jobs. */
  pull(node: NodeSession, n: number): void {
    if (!this.#init.nodes.isJoined(node)) return
    const before = node.wanted
    // What a node holds is tied to the slots it has: asking again and again gets it no more.
    node.wanted = Math.max(
      0,
      Math.min(node.wanted + n, node.slots * MAX_WANTED_PER_SLOT - this.#init.ledger.heldBy(node.id)),
    )
    if (this.#init.ledger.queuedCount() === 0) this.#room = Math.max(0, this.#room + node.wanted - before)
    // Credit comes back as jobs end there: the moments its slots may change pools.
    this.#fair.boundaries(node, n)
    if (node.wanted > 0) this.#wanting.add(node)
    this.dispatch()
  }

  /** A node's count of working slots changed (a slot went down, or came back). */
  slotsChanged(node: NodeSession, slots: number): void {
    if (!this.#init.nodes.isJoined(node)) return
    const before = node.slots
    this.#init.nodes.setSlots(node, slots)
    this.#init.reach.slotsChanged(node, before)
    if (!node.silent) this.#fair.setSlots(node, slots)
    node.wanted = Math.min(node.wanted, node.slots * MAX_WANTED_PER_SLOT)
    this.#init.log('node %s now has %d working slots', node.id, node.slots)
    this.failIfNoSlotLeft()
  }

  /** A node's results: routed, and its freed credit used. */
  results(node: NodeSession, reports: Parameters<ResultRouter['results']>[1]): void {
    this.#init.router.results(node, reports)
    this.failIfNoSlotLeft()
    this.dispatch()
  }

  /** A node gives back jobs it has not started (it drains, or their pool can't start there). */
  release(node: NodeSession, jobIds: readonly number[]): void {
    this.#init.ledger.release(node.id, jobIds)
    // Jobs a node gave back because their pool can't start there may have nowhere left to go.
    for (const poolId of node.unloadable.keys()) this.failIfUnrunnable(poolId)
    this.failIfNoSlotLeft()
    this.dispatch()
  }

  /** A pool's worker can't start on a node: it gets none of the pool's jobs, and its client hears why. */
  loadFailed(node: NodeSession, poolId: number, error: ErrorShape): void {
    const pool = this.#init.pools.get(poolId)
    if (pool === undefined || !this.#init.reach.cannotStart(node, poolId, error)) return
    this.#init.log('pool %d can not start on node %s: %s', poolId, node.id, error.message)
    pool.channel.send({ type: 'output', lines: [`[${node.name}] ${error.message}`] })
    this.failIfUnrunnable(poolId)
    this.dispatch()
  }

  /** A node left the mesh: its jobs go back to the queue at once (or fail, out of attempts). */
  nodeLeft(node: NodeSession): void {
    this.#init.reach.left(node)
    this.#fair.removeNode(node)
    this.#wanting.delete(node)
    this.#init.router.route(this.#init.ledger.releaseNode(node.id))
    for (const poolId of this.#init.pools.ids()) this.failIfUnrunnable(poolId)
    this.dispatch()
  }

  /** After the lease clock's tick: what it failed goes to the clients, and what came back to the queue is leased. */
  ticked(failed: readonly RoutedOutcome[]): void {
    this.#init.router.route(failed)
    this.failIfNoSlotLeft() // jobs back from a retry's backoff
    this.dispatch()
  }

  /**
   * Leases queued jobs to the nodes that asked for them. What is queued is
   * shared among the nodes that want work, so one node's large credit (it
   * learnt that jobs are short) never takes everything from the others.
   */
  dispatch(): void {
    const { ledger } = this.#init
    if (ledger.queuedCount() > 0) this.#fair.refresh()
    while (ledger.queuedCount() > 0) {
      const wanting = this.#wantingNow()
      if (wanting.length === 0) break
      const share = Math.max(1, Math.ceil(ledger.queuedCount() / wanting.length))
      let leased = 0
      for (const node of wanting) {
        // The queue ran dry: the other nodes are not looked at (there may be many of them).
        if (ledger.queuedCount() === 0) break
        leased += this.#leaseTo(node, share)
      }
      if (leased === 0) break
      // The queue ran dry with nodes still asking: they had room for more (the nodes were walked already).
      if (ledger.queuedCount() === 0) this.#room = wanting.reduce((sum, node) => sum + node.wanted, 0)
    }
    if (ledger.queuedCount() > 0) this.#room = 0
    for (const [pool, progress] of this.#leasedNotes) pool.channel.send({ type: 'progress', progress })
    this.#leasedNotes.clear()
  }

  /**
   * Fails a pool's unleased jobs once every node has said its worker can't
   * start there (a missing package, a constructor that throws): one clear
   * WorkerLoadError, not a job lost node by node. A node that joins later may
   * run the jobs submitted after it.
   */
  failIfUnrunnable(poolId: number): void {
    const error = this.#init.reach.unrunnable(poolId)
    if (error !== undefined) this.#init.router.route(this.#init.ledger.failQueued(poolId, error))
  }

  /** An embedded head whose slots are all broken: no node will come to run what waits, so it fails now. */
  failIfNoSlotLeft(): void {
    const { nodes, pools, ledger, router, reach } = this.#init
    if (!this.#init.alone || nodes.size === 0 || reach.anyWorking) return
    for (const poolId of pools.ids()) router.route(ledger.failQueued(poolId, NO_SLOT_LEFT))
  }

  /** The nodes that want jobs now; those that don't any more leave the set. */
  #wantingNow(): NodeSession[] {
    const wanting: NodeSession[] = []
    for (const node of this.#wanting) {
      if (node.wanted > 0 && !node.silent && this.#init.nodes.isJoined(node)) wanting.push(node)
      else this.#wanting.delete(node)
    }
    return wanting
  }

  /** Leases a node up to `share` of what it may run; returns how many. Pools new to the node are sent first. */
  #leaseTo(node: NodeSession, share: number): number {
    const { ledger, pools, reach } = this.#init
    this.#fair.settle(node)
    const canRun = (poolId: number): boolean => this.#fair.mayRun(node, poolId)
    const jobs = ledger.lease(node.id, Math.min(node.wanted, share, LEASE_CHUNK), (id) => pools.seqOf(id), canRun)
    if (jobs.length === 0) return 0
    node.wanted -= jobs.length
    for (const job of jobs) {
      const pool = pools.get(job.poolId)
      if (pool === undefined) continue
      if (pool.watching) this.#noteLeased(pool, job.jobId)
      if (reach.send(node, job.poolId)) node.channel.send({ type: 'pool', pool: pool.spec })
    }
    node.channel.send({ type: 'lease', jobs })
    return jobs.length
  }

  /** A watching client hears that its job is on a node now (progress 0). */
  #noteLeased(pool: PoolSession, jobId: number): void {
    const id = this.#init.ledger.holder(jobId)?.clientJobId
    if (id === undefined) return
    const notes = this.#leasedNotes.get(pool)
    if (notes === undefined) this.#leasedNotes.set(pool, [{ id, fraction: 0 }])
    else notes.push({ id, fraction: 0 })
  }
}

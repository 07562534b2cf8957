import { logger } from '@libp2p/logger'
import {
  type ClientMessage,
  DEFAULT_UPDATE_LOG_BYTES,
  type HeadToClientMessage,
  type HeadToNodeMessage,
  JobLedger,
  MAX_OPEN_JOBS_PER_CLIENT,
  type NodeInfo,
  type NodeMessage,
  type PeerInfo,
} from '@meshpool/core'
import type { Channel } from '../net/channel.js'
import { AdminHandler } from './admin-handler.js'
import { Dispatcher } from './dispatcher.js'
import { throttledNote } from './head-helpers.js'
import { HeadShares } from './head-shares.js'
import { headSnapshot, headStats } from './head-stats.js'
import type { HeadServiceInit, HeadSnapshot, HeadStats, NodeSession, PoolSession } from './head-types.js'
import { LeaseClock } from './lease-clock.js'
import { NodeRegistry } from './node-registry.js'
import { PoolReach } from './pool-reach.js'
import { PoolRegistry } from './pool-registry.js'
import { ResultRouter } from './result-router.js'
import { UpdateFanout } from './update-fanout.js'

/**
 * The head's logic over channels: it accepts nodes and clients, leases jobs to
 * nodes that pull, routes results to the client that submitted them, and logs
 * and publishes cache updates. Transport-agnostic: libp2p streams and
 * in-memory channels look the same to it. It only routes each message to the
 * part that handles it; start() runs its lease clock.
 */
export class HeadService {
  readonly #ledger: JobLedger
  readonly #nodes: NodeRegistry
  readonly #pools: PoolRegistry
  readonly #router: ResultRouter
  readonly #dispatcher: Dispatcher
  readonly #leases: LeaseClock
  readonly #updates: UpdateFanout
  readonly #admin: AdminHandler
  readonly #heads: HeadServiceInit['heads']
  readonly #shares: HeadShares
  #started = false
  #closed = false

  constructor(init: HeadServiceInit = {}) {
    const now = init.now ?? Date.now
    const log = init.log ?? logger('meshpool:head')
    const note = init.onNote ?? ((line: string) => log(line))
    // Refused clients and admin requests share one limit: a member could send many of either.
    const noteRefusal = throttledNote(note, now)
    const disconnect = init.disconnect ?? (() => {})
    const { admission } = init
    // How the parts that deal with peers cut one off and say what they did.
    const outlets = { disconnect, note, log }
    const ledger = new JobLedger({ now, ...(init.maxAttempts === undefined ? {} : { maxAttempts: init.maxAttempts }) })
    const nodes = new NodeRegistry({
      now,
      admission,
      onNodeEvent: init.onNodeEvent ?? (() => {}),
      onJoined: (node) => this.#dispatcher.nodeJoined(node),
      onLeft: (node) => this.#dispatcher.nodeLeft(node),
      ...outlets,
    })
    const reach = new PoolReach()
    const pools = new PoolRegistry({
      ledger,
      nodes,
      reach,
      updateLogBytes: init.updateLogBytes ?? DEFAULT_UPDATE_LOG_BYTES,
      maxOpenJobs: init.maxOpenJobsPerClient ?? MAX_OPEN_JOBS_PER_CLIENT,
      ...(init.firstPoolId === undefined ? {} : { firstPoolId: init.firstPoolId }),
      admission,
      noteRefusal,
      ...outlets,
    })
    const room = (): number => dispatcher.room
    const router = new ResultRouter({ ledger, nodes, pools, now, room, onJobDone: init.onJobDone ?? (() => {}), note })
    const dispatcher: Dispatcher = new Dispatcher({
      ledger,
      nodes,
      pools,
      router,
      reach,
      now,
      alone: init.alone ?? false,
      log,
    })
    this.#leases = new LeaseClock({
      ledger,
      nodeOf: (nodeId) => nodes.get(nodeId),
      now,
      ...(init.repeat === undefined ? {} : { repeat: init.repeat }),
      onTick: (failed) => dispatcher.ticked(failed),
      onBack: (node) => dispatcher.nodeBack(node),
      onSilent: (node) => dispatcher.nodeSilent(node),
      log,
    })
    this.#updates = new UpdateFanout({ reach, pools, publish: init.publish ?? (() => {}) })
    this.#admin = new AdminHandler({
      nodes,
      admission,
      adminRefusal: init.adminRefusal ?? (() => undefined),
      counts: () => ledger.counts(),
      stats: () => this.stats(),
      disconnect,
      note,
      noteRefusal,
      ...(init.heads === undefined ? {} : { heads: init.heads }),
    })
    this.#ledger = ledger
    this.#heads = init.heads
    this.#shares = new HeadShares({ reach, budgetBytes: init.sharedBytes, onShared: init.onShared ?? (() => {}) })
    this.#nodes = nodes
    this.#pools = pools
    this.#router = router
    this.#dispatcher = dispatcher
  }

  /** Starts the lease clock: leases expire and retries come due from now on. */
  start(): void {
    if (this.#started || this.#closed) return
    this.#started = true
    this.#leases.start()
  }

  /** Stops the lease clock and closes every node's and client's channel; nothing attaches after. */
  stop(): void {
    if (this.#closed) return
    this.#closed = true
    this.#leases.stop()
    this.#nodes.closeAll()
    this.#pools.closeAll()
  }

  /** The same as stop(). */
  close(): void {
    this.stop()
  }

  /** Serves a node on a channel. `nodeId` is its peer id (or a local name). */
  attachNode(
    nodeId: string,
    channel: Channel<NodeMessage, HeadToNodeMessage>,
    { local = false, remoteIp }: { local?: boolean; remoteIp?: string | undefined } = {},
  ): void {
    if (this.#closed) {
      channel.close()
      return
    }
    const node = this.#nodes.connect(nodeId, channel, { local, remoteIp })
    channel.start({
      message: (message) => this.#onNodeMessage(node, message),
      close: (reason) => this.#nodes.gone(node, reason),
    })
  }

  /** Serves a client (one pool) on a channel; `peerId`: who it is (none: in this process). */
  attachClient(channel: Channel<ClientMessage, HeadToClientMessage>, { peerId }: { peerId?: string } = {}): void {
    if (this.#closed) {
      channel.close()
      return
    }
    if (this.#pools.refuses(channel, peerId)) return
    let pool: PoolSession | undefined
    channel.start({
      message: (message) => {
        if (this.#admin.handle(channel, message)) return
        if (message.type === 'open') {
          if (pool !== undefined) return channel.close(new Error('a client opens one pool per connection'))
          pool = this.#pools.open(message, channel, peerId)
          return
        }
        if (pool === undefined) return channel.close(new Error(`${message.type} before open`))
        this.#onClientMessage(pool, message)
      },
      close: () => {
        if (pool === undefined) return
        this.#pools.close(pool)
        this.#dispatcher.poolClosed(pool)
        this.#shares.poolClosed(pool.spec.poolId)
      },
    })
  }

  /** Every node of the mesh, as `meshpool status` shows it. */
  nodes(): NodeInfo[] {
    return this.#nodes.info()
  }

  snapshot(): HeadSnapshot {
    const heads = this.#heads?.()
    return {
      ...headSnapshot(this.#nodes, this.#pools, this.#ledger.counts()),
      ...(heads === undefined ? {} : { heads }),
    }
  }

  stats(): HeadStats {
    return headStats(this.#nodes, this.#pools, this.#ledger.counts())
  }

  /**
   * Revokes a peer: it is refused from now on (see Admission), a node of that id
   * is told and disconnected (its leases go back to the queue at once), and the
   * other nodes drop it from the mesh. Says whether it had ever joined.
   */
  revoke(peerId: string): boolean {
    return this.#admin.revoke(peerId)
  }

  /** Where a node of the mesh listens, if it is here and listens. */
  whereIs(nodeId: string): PeerInfo | undefined {
    return this.#nodes.whereIs(nodeId)
  }

  /** A value a pool shared, by its hash, for nodes that fetch it. */
  sharedValue(hash: string): Uint8Array | undefined {
    return this.#shares.get(hash)
  }

  /** The peer id of a pool's client, while it is open here (for the relay of big params). */
  clientOf(poolId: number): string | undefined {
    return this.#pools.get(poolId)?.clientPeer
  }

  /** Shipped code by its hash, for nodes that fetch it. */
  code(hash: string): Uint8Array | undefined {
    return this.#pools.code(hash)
  }

  #onClientMessage(pool: PoolSession, message: ClientMessage): void {
    switch (message.type) {
      case 'submit':
        if (this.#pools.admits(pool, message.jobs.length)) this.#dispatcher.submit(pool, message.jobs)
        return
      case 'cancel':
        this.#dispatcher.cancel(pool, message.ids)
        return
      case 'update':
        this.#updates.update(pool, message)
        return
      case 'share':
      case 'unshare':
        this.#shares.handle(pool, message)
        return
      case 'stats':
        this.#admin.stats(pool.channel, message.reqId)
        return
      case 'watch':
        pool.watching = message.on
        return
    }
  }

  #onNodeMessage(node: NodeSession, message: NodeMessage): void {
    switch (message.type) {
      case 'hello':
        this.#nodes.hello(node, message)
        return
      case 'findPeers':
        this.#nodes.findPeers(node)
        return
      case 'pull':
        this.#dispatcher.pull(node, message.n)
        return
      case 'results':
        this.#dispatcher.results(node, message.results)
        return
      case 'heartbeat':
        if (message.slotStates !== undefined) node.slotStates = message.slotStates
        this.#updates.sendSeqs(node)
        this.#leases.renew(node)
        return
      case 'slots':
        this.#dispatcher.slotsChanged(node, message.slots)
        return
      case 'release':
        this.#dispatcher.release(node, message.jobIds)
        return
      case 'loadFailed':
        this.#dispatcher.loadFailed(node, message.poolId, message.error)
        return
      case 'output':
        this.#router.output(node, message.poolId, message.lines)
        return
      case 'progress':
        this.#router.progress(node, message.progress)
        return
      case 'catchup':
        this.#updates.catchup(node, message)
        return
    }
  }
}

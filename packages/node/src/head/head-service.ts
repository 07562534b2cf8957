import { logger } from '@libp2p/logger'
import {
  type ClientMessage,
  type ClientOutcome,
  DEFAULT_UPDATE_LOG_BYTES,
  type ErrorShape,
  type HeadToClientMessage,
  type HeadToNodeMessage,
  JobLedger,
  type LeaseToCancel,
  MAX_OPEN_JOBS_PER_CLIENT,
  type NodeInfo,
  type NodeMessage,
  type PeerInfo,
  type RoutedOutcome,
  type UpdateEntry,
  UpdateLog,
} from '@meshpool/core'
import { type Channel, channelPair } from '../net/channel.js'
import { isPeerId } from '../net/peer-id.js'
import type { NodeAgent } from '../node/agent.js'
import { MAX_SLOT_CRASHES } from '../node/slot-deaths.js'
import { CodeStore } from './code-store.js'
import { mayRun, shareSlots } from './fair-shares.js'
import { addrsOnIp, groupBy, nodeInfo, pickPeers } from './head-helpers.js'
import type {
  HeadServiceInit,
  HeadSnapshot,
  HeadStats,
  NodeAdmission,
  NodeEvent,
  NodeSession,
  PoolSession,
} from './head-types.js'

const log = logger('meshpool:head')

/** Most jobs leased to a node in one frame. */
const LEASE_CHUNK = 512
/** Most jobs a node may ask for per slot (short jobs stream to slots in batches). */
const MAX_WANTED_PER_SLOT = 512
/** How often the head looks for expired leases and due retries. */
const TICK_MS = 100
/** A catch-up is not answered while this much is still queued to the node. */
const MAX_CATCHUP_QUEUED_BYTES = 64 * 1024 * 1024
/** Why an embedded head's jobs fail once it has no working slot left. */
const NO_SLOT_LEFT: ErrorShape = {
  name: 'WorkerLostError',
  message: `no slot is left to run the job: every slot crashed ${MAX_SLOT_CRASHES} times in a row and stays down (the warning "slot … crashed" says how the last crash ended); fix what makes the slot exit, then create the pool again`,
}
/** How many other nodes the head names to a node that joins or asks (it keeps a few of them as mesh neighbours). */
const PEERS_OFFERED = 8

/**
 * The head's logic over channels: it accepts nodes and clients, leases jobs to
 * nodes that pull, routes results to the client that submitted them, and logs
 * and publishes cache updates. Transport-agnostic: libp2p streams and
 * in-memory channels look the same to it.
 */
export class HeadService {
  readonly #ledger: JobLedger
  readonly #now: () => number
  readonly #nodes = new Map<string, NodeSession>()
  readonly #pools = new Map<number, PoolSession>()
  readonly #publish: (entry: UpdateEntry) => void
  readonly #onNodeEvent: (event: NodeEvent) => void
  readonly #code = new CodeStore()
  readonly #updateLogBytes: number
  readonly #admission: NodeAdmission | undefined
  readonly #disconnect: (peerId: string) => void
  readonly #adminRefusal: (adminKey: string | undefined) => string | undefined
  readonly #maxOpenJobs: number
  readonly #note: (line: string) => void
  readonly #onJobDone: (ms: number, outcome: ClientOutcome, poolId: number) => void
  readonly #leasedNotes = new Map<PoolSession, Array<{ id: number; fraction: number }>>()
  readonly #alone: boolean
  #nextPoolId = 1
  #lastIgnoredNote = 0
  #lastRefusalNote = Number.NEGATIVE_INFINITY
  #closed = false
  readonly #ticker: NodeJS.Timeout

  constructor(init: HeadServiceInit = {}) {
    this.#now = init.now ?? Date.now
    this.#ledger = new JobLedger({
      now: this.#now,
      ...(init.maxAttempts === undefined ? {} : { maxAttempts: init.maxAttempts }),
    })
    this.#publish = init.publish ?? (() => {})
    this.#onNodeEvent = init.onNodeEvent ?? (() => {})
    this.#updateLogBytes = init.updateLogBytes ?? DEFAULT_UPDATE_LOG_BYTES
    this.#admission = init.admission
    this.#disconnect = init.disconnect ?? (() => {})
    this.#adminRefusal = init.adminRefusal ?? (() => undefined)
    this.#maxOpenJobs = init.maxOpenJobsPerClient ?? MAX_OPEN_JOBS_PER_CLIENT
    this.#note = init.onNote ?? ((line) => log(line))
    this.#onJobDone = init.onJobDone ?? (() => {})
    this.#alone = init.alone ?? false
    this.#ticker = setInterval(() => this.#tick(), TICK_MS)
    this.#ticker.unref()
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
    this.#nodes.get(nodeId)?.channel.close(new Error('replaced by a newer connection from the same node'))
    const session: NodeSession = {
      id: nodeId,
      name: nodeId,
      slots: 0,
      wanted: 0,
      channel,
      poolsSent: new Set(),
      local,
      silent: false,
      unloadable: new Map(),
      shares: undefined,
      addrs: [],
      remoteIp,
      gpus: [],
      slotStates: [],
      done: 0,
      failed: 0,
      joinedAt: this.#now(),
      lastHeartbeat: this.#now(),
    }
    channel.start({
      message: (message) => this.#onNodeMessage(session, message),
      close: (reason) => this.#onNodeGone(session, reason),
    })
  }

  /** Serves a client (one pool) on a channel; `peerId`: who it is (none: in this process). */
  attachClient(channel: Channel<ClientMessage, HeadToClientMessage>, { peerId }: { peerId?: string } = {}): void {
    if (this.#closed) {
      channel.close()
      return
    }
    const refusal = peerId === undefined ? undefined : this.#admission?.clientRefusal(peerId)
    if (refusal !== undefined) {
      this.#noteRefusal(`refused ${refusal}`)
      channel.start({ message: () => {}, close: () => {} })
      channel.send({ type: 'refused', message: refusal })
      channel.close()
      this.#disconnect(peerId as string)
      return
    }
    let pool: PoolSession | undefined
    channel.start({
      message: (message) => {
        if (this.#onAdminMessage(channel, message)) return
        if (message.type === 'open') {
          if (pool !== undefined) return channel.close(new Error('a client opens one pool per connection'))
          pool = this.#openPool(message, channel)
          return
        }
        if (pool === undefined) return channel.close(new Error(`${message.type} before open`))
        this.#onClientMessage(pool, message)
      },
      close: () => {
        if (pool !== undefined) this.#closePool(pool)
      },
    })
  }

  /** Messages any client may send without opening a pool (`meshpool status`, `stop`, `revoke`). */
  #onAdminMessage(channel: Channel<ClientMessage, HeadToClientMessage>, message: ClientMessage): boolean {
    switch (message.type) {
      case 'revoke': {
        const refused = this.#adminRefusal(message.adminKey) ?? this.#admission?.revokeRefusal(message.peerId)
        if (refused !== undefined) {
          this.#noteRefusal(`refused to revoke ${message.peerId}: ${refused}`)
          channel.send({ type: 'revoked', reqId: message.reqId, peerId: message.peerId, known: false, refused })
          return true
        }
        // The clients meshpool ships check the id first; another one's nonsense is answered, and kept nowhere.
        const known = isPeerId(message.peerId) && this.revoke(message.peerId)
        channel.send({ type: 'revoked', reqId: message.reqId, peerId: message.peerId, known })
        return true
      }
      case 'nodes': {
        const { queued, leased } = this.#ledger.counts()
        channel.send({ type: 'nodes', reqId: message.reqId, nodes: this.nodes(), queued, leased })
        return true
      }
      case 'stopNodes': {
        const refused = this.#adminRefusal(message.adminKey)
        if (refused !== undefined) {
          this.#noteRefusal(`refused to stop ${message.nodeIds.length} node(s): ${refused}`)
          channel.send({ type: 'stopping', reqId: message.reqId, nodeIds: [], refused })
          return true
        }
        const stopping = message.nodeIds.filter((id) => {
          const node = this.#nodes.get(id)
          if (node === undefined || node.local) return false
          node.channel.send({ type: 'stop' })
          return true
        })
        channel.send({ type: 'stopping', reqId: message.reqId, nodeIds: stopping })
        return true
      }
      default:
        return false
    }
  }

  /** A refused client or admin request, said once a second at most (a member could send many). */
  #noteRefusal(line: string): void {
    const now = this.#now()
    if (now - this.#lastRefusalNote < 1000) return
    this.#lastRefusalNote = now
    this.#note(line)
  }

  /** Every node of the mesh, as `meshpool status` shows it. */
  nodes(): NodeInfo[] {
    return [...this.#nodes.values()].map(nodeInfo)
  }

  snapshot(): HeadSnapshot {
    const slots: HeadSnapshot['slots'] = { idle: 0, busy: 0, loading: 0, down: 0, broken: 0 }
    for (const node of this.#nodes.values()) {
      for (let i = 0; i < node.slots; i++) slots[node.slotStates[i] ?? 'idle']++
    }
    const pools = [...this.#pools.values()].map(({ spec, log }) => ({
      poolId: spec.poolId,
      updateSeq: log.seq,
      updateLogBytes: log.bytes,
    }))
    return { counts: this.#ledger.counts(), nodes: this.#nodes.size, slots, pools }
  }

  stats(): HeadStats {
    let workers = 0
    const nodes = this.#nodes.size
    for (const node of this.#nodes.values()) workers += node.slots
    const counts = this.#ledger.counts()
    return { nodes, workers, queued: counts.queued, leased: counts.leased, pools: this.#pools.size }
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#ticker)
    for (const node of [...this.#nodes.values()]) node.channel.close()
    for (const pool of [...this.#pools.values()]) pool.channel.close()
  }

  #openPool(open: Extract<ClientMessage, { type: 'open' }>, channel: PoolSession['channel']): PoolSession {
    const poolId = this.#nextPoolId++
    this.#ledger.addPool(poolId, open.settings)
    const { leaseMs } = this.#ledger.settingsOf(poolId)
    const codeHash = open.code === undefined ? undefined : this.#code.add(poolId, open.code)
    const pool: PoolSession = {
      spec: {
        poolId,
        worker: open.worker,
        init: open.init,
        leaseMs,
        ...(codeHash === undefined ? {} : { codeHash }),
        ...(open.settings.maxJobsPerSlot === undefined ? {} : { maxJobsPerSlot: open.settings.maxJobsPerSlot }),
      },
      channel,
      log: new UpdateLog(poolId, this.#updateLogBytes),
      watching: false,
    }
    this.#pools.set(poolId, pool)
    log('pool %d opened for %s', poolId, open.worker)
    channel.send({ type: 'opened', poolId, maxOpenJobs: this.#maxOpenJobs })
    return pool
  }

  #closePool(pool: PoolSession): void {
    const poolId = pool.spec.poolId
    if (this.#pools.get(poolId) !== pool) return
    this.#pools.delete(poolId)
    if (pool.spec.codeHash !== undefined) this.#code.release(poolId, pool.spec.codeHash)
    const cancelled = groupBy(
      this.#ledger.removePool(poolId),
      (l) => l.nodeId,
      (l) => l.jobId,
    )
    // Every node that was given the pool hears it closed: its slots dispose of the pool's worker.
    for (const node of this.#nodes.values()) {
      node.unloadable.delete(poolId)
      const jobIds = cancelled.get(node.id) ?? []
      if (!node.poolsSent.delete(poolId) && jobIds.length === 0) continue
      node.channel.send({ type: 'cancel', jobIds, closedPools: [poolId] })
    }
    log('pool %d closed', poolId)
  }

  #onClientMessage(pool: PoolSession, message: ClientMessage): void {
    switch (message.type) {
      case 'submit': {
        const open = this.#ledger.openCount(pool.spec.poolId)
        if (open + message.jobs.length > this.#maxOpenJobs) {
          // meshpool's own client holds jobs back below the limit it was told: this one does not.
          const refusal = `${open + message.jobs.length} open jobs is over this head's limit of ${this.#maxOpenJobs} per client; wait for results before submitting more`
          this.#note(`refused a client of pool ${pool.spec.poolId}: ${refusal}`)
          pool.channel.send({ type: 'refused', message: refusal })
          pool.channel.close()
          return
        }
        this.#ledger.submitMany(pool.spec.poolId, message.jobs)
        this.#failIfUnrunnable(pool.spec.poolId)
        this.#failIfNoSlotLeft()
        this.#dispatch()
        return
      }
      case 'cancel':
        this.#cancelOnNodes(this.#ledger.cancel(pool.spec.poolId, message.ids))
        return
      case 'update': {
        const entry = pool.log.append(message.value)
        this.#publish(entry)
        for (const node of this.#nodes.values()) {
          if (node.local && node.poolsSent.has(entry.poolId)) node.channel.send({ type: 'updates', entries: [entry] })
        }
        pool.channel.send({ type: 'updated', reqId: message.reqId, seq: entry.seq })
        return
      }
      case 'stats': {
        const stats = this.stats()
        pool.channel.send({ type: 'stats', reqId: message.reqId, workers: stats.workers, nodes: stats.nodes })
        return
      }
      case 'watch':
        pool.watching = message.on
        return
      case 'open':
        return
    }
  }

  #onNodeMessage(node: NodeSession, message: NodeMessage): void {
    switch (message.type) {
      case 'hello': {
        if (node.slots > 0) return
        const refusal = node.local ? undefined : this.#admission?.refusal(node.id)
        if (refusal !== undefined) {
          this.#note(`refused node ${node.id} (${message.name}): ${refusal}`)
          node.channel.send({ type: 'refused', message: refusal })
          node.channel.close()
          this.#disconnect(node.id)
          return
        }
        if (!node.local) this.#admission?.admitted(node.id, message.name)
        node.name = message.name
        node.slots = message.slots
        node.addrs = node.remoteIp === undefined ? (message.addrs ?? []) : addrsOnIp(message.addrs ?? [], node.remoteIp)
        node.gpus = message.gpus ?? []
        // An older connection of the same node that is not gone yet: its leases go back now.
        const old = this.#nodes.get(node.id)
        if (old !== undefined && old !== node) this.#onNodeGone(old, new Error('replaced by a newer connection'))
        this.#nodes.set(node.id, node)
        log('node %s (%s) joined with %d slots', node.id, node.name, node.slots)
        this.#onNodeEvent({ type: 'joined', nodeId: node.id, name: node.name, slots: node.slots })
        node.channel.send({ type: 'welcome', nodeId: node.id })
        if (!node.local) {
          const revoked = this.#admission?.revokedIds() ?? []
          if (revoked.length > 0) node.channel.send({ type: 'revoked', peerIds: revoked })
          const allowed = this.#admission?.allowedIds()
          if (allowed !== undefined) node.channel.send({ type: 'allowed', peerIds: allowed })
          node.channel.send({ type: 'peers', peers: this.#somePeers(node) })
        }
        return
      }
      case 'findPeers':
        if (this.#nodes.get(node.id) === node) node.channel.send({ type: 'peers', peers: this.#somePeers(node) })
        return
      case 'pull':
        if (this.#nodes.get(node.id) !== node) return
        // What a node holds is tied to the slots it has: asking again and again gets it no more.
        node.wanted = Math.max(
          0,
          Math.min(node.wanted + message.n, node.slots * MAX_WANTED_PER_SLOT - this.#ledger.heldBy(node.id)),
        )
        this.#dispatch()
        return
      case 'results': {
        const routed: RoutedOutcome[] = []
        for (const report of message.results) {
          const outcome = this.#ledger.complete(node.id, report)
          if (outcome !== undefined) {
            routed.push(outcome)
            if (outcome.outcome.ok) node.done++
            else node.failed++
          } else if (this.#ledger.holder(report.jobId)?.nodeId !== undefined) this.#notHolder(node, report.jobId)
        }
        this.#route(routed)
        this.#failIfNoSlotLeft()
        this.#dispatch()
        return
      }
      case 'heartbeat': {
        this.#ledger.renew(node.id)
        node.lastHeartbeat = this.#now()
        if (message.slotStates !== undefined) node.slotStates = message.slotStates
        const seqs: Array<{ poolId: number; seq: number }> = []
        for (const poolId of node.poolsSent) {
          const seq = this.#pools.get(poolId)?.log.seq ?? 0
          if (seq > 0) seqs.push({ poolId, seq })
        }
        if (seqs.length > 0) node.channel.send({ type: 'seqs', seqs })
        if (node.silent) {
          node.silent = false
          log('node %s is back', node.id)
          this.#dispatch()
        }
        return
      }
      case 'slots':
        if (this.#nodes.get(node.id) !== node) return
        node.slots = message.slots
        node.wanted = Math.min(node.wanted, node.slots * MAX_WANTED_PER_SLOT)
        log('node %s now has %d working slots', node.id, node.slots)
        this.#failIfNoSlotLeft()
        return
      case 'release':
        this.#ledger.release(node.id, message.jobIds)
        // Jobs a node gave back because their pool can't start there may have nowhere left to go.
        for (const poolId of node.unloadable.keys()) this.#failIfUnrunnable(poolId)
        this.#failIfNoSlotLeft()
        this.#dispatch()
        return
      case 'loadFailed': {
        const pool = this.#pools.get(message.poolId)
        if (pool === undefined || !node.poolsSent.has(message.poolId) || node.unloadable.has(message.poolId)) return
        node.unloadable.set(message.poolId, message.error)
        log('pool %d can not start on node %s: %s', message.poolId, node.id, message.error.message)
        pool.channel.send({ type: 'output', lines: [`[${node.name}] ${message.error.message}`] })
        this.#failIfUnrunnable(message.poolId)
        this.#dispatch()
        return
      }
      case 'output':
        // Only a node that was given the pool speaks for its workers.
        if (node.poolsSent.has(message.poolId))
          this.#pools.get(message.poolId)?.channel.send({ type: 'output', lines: message.lines })
        return
      case 'progress':
        this.#routeProgress(node, message.progress)
        return
      case 'catchup': {
        const pool = this.#pools.get(message.poolId)
        // A node that has not read the last answers yet gets no more (it asks again with its next heartbeat).
        if (pool === undefined || node.channel.queuedBytes > MAX_CATCHUP_QUEUED_BYTES) return
        const { entries, missed } = pool.log.since(message.from)
        node.channel.send({
          type: 'updates',
          entries,
          ...(missed > 0 ? { dropped: { poolId: message.poolId, through: message.from + missed } } : {}),
        })
        return
      }
    }
  }

  /** A result for a job leased to another node: ignored, and said (once a second at most). */
  #notHolder(node: NodeSession, jobId: number): void {
    const holder = this.#ledger.holder(jobId)?.nodeId
    if (holder === node.id) return // a stale lease of its own (a slot that was replaced): nothing to say
    const now = Date.now()
    if (now - this.#lastIgnoredNote < 1000) return
    this.#lastIgnoredNote = now
    this.#note(`ignored a result from node ${node.id} for job ${jobId}, which is leased to ${holder}`)
  }

  #onNodeGone(node: NodeSession, reason: Error | undefined): void {
    if (this.#nodes.get(node.id) !== node) return
    this.#nodes.delete(node.id)
    log('node %s left%s', node.id, reason === undefined ? '' : `: ${reason.message}`)
    this.#onNodeEvent({
      type: 'left',
      nodeId: node.id,
      name: node.name,
      slots: node.slots,
      ...(reason === undefined ? {} : { reason: reason.message }),
    })
    this.#route(this.#ledger.releaseNode(node.id))
    for (const poolId of this.#pools.keys()) this.#failIfUnrunnable(poolId)
    this.#dispatch()
  }

  /**
   * Leases queued jobs to the nodes that asked for them. What is queued is
   * shared among the nodes that want work, so one node's large credit (it
   * learnt that jobs are short) never takes everything from the others.
   */
  #dispatch(): void {
    const updateSeqOf = (poolId: number): number => this.#pools.get(poolId)?.log.seq ?? 0
    shareSlots([...this.#nodes.values()], [...this.#pools.keys()], (poolId) => this.#ledger.queuedCount(poolId))
    while (this.#ledger.queuedCount() > 0) {
      const wanting = [...this.#nodes.values()].filter((node) => node.wanted > 0 && !node.silent)
      if (wanting.length === 0) break
      const share = Math.max(1, Math.ceil(this.#ledger.queuedCount() / wanting.length))
      let leased = 0
      for (const node of wanting) {
        const canRun = (poolId: number): boolean => mayRun(node, poolId, (id) => this.#ledger.queuedCount(id))
        const jobs = this.#ledger.lease(node.id, Math.min(node.wanted, share, LEASE_CHUNK), updateSeqOf, canRun)
        if (jobs.length === 0) continue
        leased += jobs.length
        node.wanted -= jobs.length
        for (const job of jobs) {
          const pool = this.#pools.get(job.poolId)
          if (pool === undefined) continue
          if (pool.watching) this.#noteLeased(pool, job.jobId)
          if (node.poolsSent.has(job.poolId)) continue
          node.poolsSent.add(job.poolId)
          node.channel.send({ type: 'pool', pool: pool.spec })
        }
        node.channel.send({ type: 'lease', jobs })
      }
      if (leased === 0) break
    }
    for (const [pool, progress] of this.#leasedNotes) pool.channel.send({ type: 'progress', progress })
    this.#leasedNotes.clear()
  }

  /** A watching client hears that its job is on a node now (progress 0). */
  #noteLeased(pool: PoolSession, jobId: number): void {
    const id = this.#ledger.holder(jobId)?.clientJobId
    if (id === undefined) return
    const notes = this.#leasedNotes.get(pool)
    if (notes === undefined) this.#leasedNotes.set(pool, [{ id, fraction: 0 }])
    else notes.push({ id, fraction: 0 })
  }

  /**
   * Fails a pool's unleased jobs once every node has said its worker can't
   * start there (a missing package, a constructor that throws): one clear
   * WorkerLoadError, not a job lost node by node. A node that joins later may
   * run the jobs submitted after it.
   */
  #failIfUnrunnable(poolId: number): void {
    let error: ErrorShape | undefined
    for (const node of this.#nodes.values()) {
      if (node.slots === 0) continue
      error = node.unloadable.get(poolId)
      if (error === undefined) return
    }
    if (error !== undefined) this.#route(this.#ledger.failQueued(poolId, error))
  }

  /** An embedded head whose slots are all broken: no node will come to run what waits, so it fails now. */
  #failIfNoSlotLeft(): void {
    if (!this.#alone || this.#nodes.size === 0) return
    for (const node of this.#nodes.values()) if (node.slots > 0) return
    for (const poolId of this.#pools.keys()) this.#route(this.#ledger.failQueued(poolId, NO_SLOT_LEFT))
  }

  #routeProgress(node: NodeSession, progress: Array<{ jobId: number; leaseId: number; fraction: number }>): void {
    const mine = progress.flatMap(({ jobId, leaseId, fraction }) => {
      const job = this.#ledger.holder(jobId)
      return job === undefined || job.nodeId !== node.id || job.leaseId !== leaseId ? [] : [{ job, fraction }]
    })
    for (const [poolId, list] of groupBy(
      mine,
      (m) => m.job.poolId,
      (m) => ({ id: m.job.clientJobId, fraction: m.fraction }),
    )) {
      this.#pools.get(poolId)?.channel.send({ type: 'progress', progress: list })
    }
  }

  /**
   * Revokes a peer: it is refused from now on (see Admission), a node of that id
   * is told and disconnected (its leases go back to the queue at once), and the
   * other nodes drop it from the mesh. Says whether it had ever joined.
   */
  revoke(peerId: string): boolean {
    const known = this.#admission?.revoke(peerId) ?? this.#nodes.has(peerId)
    this.#note(`revoked ${peerId}${known ? '' : ' (it never joined)'}`)
    for (const node of this.#nodes.values()) if (!node.local) node.channel.send({ type: 'revoked', peerIds: [peerId] })
    const node = this.#nodes.get(peerId)
    if (node !== undefined && !node.local) {
      this.#onNodeGone(node, new Error('revoked'))
      node.channel.close()
    }
    this.#disconnect(peerId)
    return known
  }

  /** Where a node of the mesh listens, if it is here and listens. */
  whereIs(nodeId: string): PeerInfo | undefined {
    const node = this.#nodes.get(nodeId)
    return node === undefined || node.addrs.length === 0 ? undefined : { peerId: node.id, addrs: node.addrs }
  }

  /** A random few of the other nodes that listen, for `node` to connect to (the gossip mesh). */
  #somePeers(node: NodeSession): PeerInfo[] {
    return pickPeers(
      [...this.#nodes.values()].filter((n) => n !== node && !n.local),
      PEERS_OFFERED,
    )
  }

  /** Shipped code by its hash, for nodes that fetch it. */
  code(hash: string): Uint8Array | undefined {
    return this.#code.get(hash)
  }

  #tick(): void {
    for (const nodeId of this.#ledger.overdueNodes()) {
      const node = this.#nodes.get(nodeId)
      if (node === undefined) continue
      // A frozen node would get its own expired jobs straight back: leave it out until it heartbeats.
      node.silent = true
      node.wanted = 0
      log('node %s stopped renewing its leases', nodeId)
    }
    const failed = this.#ledger.tick()
    this.#route(failed)
    this.#failIfNoSlotLeft() // jobs back from a retry's backoff
    this.#dispatch()
  }

  #cancelOnNodes(leases: LeaseToCancel[]): void {
    for (const [nodeId, jobIds] of groupBy(
      leases,
      (l) => l.nodeId,
      (l) => l.jobId,
    )) {
      this.#nodes.get(nodeId)?.channel.send({ type: 'cancel', jobIds })
    }
  }

  #route(routed: RoutedOutcome[]): void {
    if (routed.length === 0) return
    for (const { ms, outcome, poolId } of routed) if (ms !== undefined) this.#onJobDone(ms, outcome, poolId)
    for (const [poolId, results] of groupBy(
      routed,
      (r) => r.poolId,
      (r) => this.#named(r.outcome),
    )) {
      this.#pools.get(poolId)?.channel.send({ type: 'results', results })
    }
    this.#cancelOnNodes(routed.flatMap((r) => (r.cancelOn === undefined ? [] : [r.cancelOn])))
  }

  /** A failed job's `where` (a peer id) as its RemoteJobError shows it: the node's name, and its peer id. */
  #named(outcome: ClientOutcome): ClientOutcome {
    if (outcome.ok || outcome.where === undefined) return outcome
    const node = this.#nodes.get(outcome.where)
    if (node === undefined || node.name === node.id) return outcome
    return { ...outcome, where: node.local ? node.name : `${node.name}, peer ${node.id}` }
  }
}

/** Runs a node agent inside the head's process, over an in-memory channel. */
export function attachLocalAgent(head: HeadService, agent: NodeAgent): void {
  const [agentSide, headSide] = channelPair<HeadToNodeMessage, NodeMessage>()
  head.attachNode('local', headSide, { local: true })
  void agent.connect(agentSide)
}

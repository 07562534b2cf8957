import { type ClientMessage, type JobLedger, UpdateLog } from '@meshpool/core'
import { CodeStore } from './code-store.js'
import { weightOf } from './fair-shares.js'
import { groupBy } from './head-helpers.js'
import type { HeadLog, NodeAdmission, PoolSession } from './head-types.js'
import type { NodeRegistry } from './node-registry.js'
import type { PoolReach } from './pool-reach.js'

type Open = Extract<ClientMessage, { type: 'open' }>

export interface PoolRegistryInit {
  ledger: JobLedger
  nodes: NodeRegistry
  reach: PoolReach
  /** Bytes of updates each pool's log keeps for nodes that join late. */
  updateLogBytes: number
  /** Most jobs one client may have open. */
  maxOpenJobs: number
  /** Who may connect as a client (none: any peer with the password). */
  admission: NodeAdmission | undefined
  disconnect: (peerId: string) => void
  note: (line: string) => void
  /** A refused client, said once a second at most. */
  noteRefusal: (line: string) => void
  log: HeadLog
  /**
   * The id of the first pool opened here; 1 unless told. A head on the network starts at a
   * random one: a node keeps what it knows of a pool by its id across heads, and a head that
   * took over (or restarted) must not reuse the ids of the head before it, whose pools they were.
   */
  firstPoolId?: number
}

/**
 * The head's pools, one per client connection: opened with the client's
 * `open` (its ledger book, shipped code and update log), closed when the
 * client goes, which cancels its jobs on every node that was given the pool.
 */
export class PoolRegistry {
  readonly #pools = new Map<number, PoolSession>()
  readonly #code = new CodeStore()
  readonly #init: PoolRegistryInit
  #nextPoolId: number

  constructor(init: PoolRegistryInit) {
    this.#init = init
    this.#nextPoolId = init.firstPoolId ?? 1
  }

  /** Whether a client that connects is refused (it is told why, and cut off); `peerId` none: in this process. */
  refuses(channel: PoolSession['channel'], peerId: string | undefined): boolean {
    const refusal = peerId === undefined ? undefined : this.#init.admission?.clientRefusal(peerId)
    if (refusal === undefined) return false
    this.#init.noteRefusal(`refused ${refusal}`)
    channel.start({ message: () => {}, close: () => {} })
    channel.send({ type: 'refused', message: refusal })
    channel.close()
    this.#init.disconnect(peerId as string)
    return true
  }

  /**
   * A client's open: its pool, whose id the client is told with the head's limit on open jobs.
   * `peerId`: the client's (none: in this process); with the addresses it listens on, nodes
   * fetch its jobs' big params from it.
   */
  open(open: Open, channel: PoolSession['channel'], peerId?: string): PoolSession {
    const { ledger, maxOpenJobs } = this.#init
    const poolId = this.#nextPoolId++
    ledger.addPool(poolId, open.settings)
    const { leaseMs } = ledger.settingsOf(poolId)
    const codeHash = open.code === undefined ? undefined : this.#code.add(poolId, open.code)
    const pool: PoolSession = {
      spec: {
        poolId,
        worker: open.worker,
        init: open.init,
        leaseMs,
        ...(codeHash === undefined ? {} : { codeHash }),
        ...(open.settings.maxJobsPerSlot === undefined ? {} : { maxJobsPerSlot: open.settings.maxJobsPerSlot }),
        ...(peerId === undefined ? {} : { client: { peerId, addrs: open.addrs ?? [] } }),
      },
      channel,
      ...(peerId === undefined ? {} : { clientPeer: peerId }),
      log: new UpdateLog(poolId, this.#init.updateLogBytes),
      watching: false,
      weight: weightOf(open.settings.priority ?? 0),
    }
    this.#pools.set(poolId, pool)
    this.#init.log('pool %d opened for %s', poolId, open.worker)
    channel.send({ type: 'opened', poolId, maxOpenJobs })
    return pool
  }

  /** The pool's client is gone: its jobs are dropped, and cancelled on the nodes that hold them. */
  close(pool: PoolSession): void {
    const poolId = pool.spec.poolId
    if (this.#pools.get(poolId) !== pool) return
    this.#pools.delete(poolId)
    if (pool.spec.codeHash !== undefined) this.#code.release(poolId, pool.spec.codeHash)
    const cancelled = groupBy(
      this.#init.ledger.removePool(poolId),
      (l) => l.nodeId,
      (l) => l.jobId,
    )
    // Every node that was given the pool hears it closed: its slots dispose of the pool's worker.
    for (const node of this.#init.reach.close(poolId)) {
      node.channel.send({ type: 'cancel', jobIds: cancelled.get(node.id) ?? [], closedPools: [poolId] })
      cancelled.delete(node.id)
    }
    for (const [nodeId, jobIds] of cancelled) {
      this.#init.nodes.get(nodeId)?.channel.send({ type: 'cancel', jobIds, closedPools: [poolId] })
    }
    this.#init.log('pool %d closed', poolId)
  }

  /**
   * Whether a client may submit `count` more jobs. One over the head's limit
   * is refused and cut off: meshpool's own client holds jobs back below the
   * limit it was told, and this one does not.
   */
  admits(pool: PoolSession, count: number): boolean {
    const { maxOpenJobs } = this.#init
    const open = this.#init.ledger.openCount(pool.spec.poolId)
    if (open + count <= maxOpenJobs) return true
    const refusal = `${open + count} open jobs is over this head's limit of ${maxOpenJobs} per client; wait for results before submitting more`
    this.#init.note(`refused a client of pool ${pool.spec.poolId}: ${refusal}`)
    pool.channel.send({ type: 'refused', message: refusal })
    pool.channel.close()
    return false
  }

  get(poolId: number): PoolSession | undefined {
    return this.#pools.get(poolId)
  }

  ids(): IterableIterator<number> {
    return this.#pools.keys()
  }

  values(): IterableIterator<PoolSession> {
    return this.#pools.values()
  }

  get size(): number {
    return this.#pools.size
  }

  /** The pool's latest update (0: none yet, or no such pool). */
  seqOf(poolId: number): number {
    return this.#pools.get(poolId)?.log.seq ?? 0
  }

  /** Shipped code by its hash, for nodes that fetch it. */
  code(hash: string): Uint8Array | undefined {
    return this.#code.get(hash)
  }

  /** Closes every client's channel (the head stops). */
  closeAll(): void {
    for (const pool of [...this.#pools.values()]) pool.channel.close()
  }
}

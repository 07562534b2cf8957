import {
  type ClientMessage,
  encodeFrame,
  GOSSIP_INLINE_BYTES,
  type NodeMessage,
  UPDATES_TOPIC,
  type UpdateEntry,
} from '@meshpool/core'
import type { MeshPeer } from '../net/peer.js'
import type { HeadBlobs } from './blobs.js'
import type { HeadLog, NodeSession, PoolSession } from './head-types.js'
import type { PoolReach } from './pool-reach.js'
import type { PoolRegistry } from './pool-registry.js'

/** A catch-up is not answered while this much is still queued to the node. */
const MAX_CATCHUP_QUEUED_BYTES = 64 * 1024 * 1024
/**
 * An update whose copies to every node of its pool come to at most this many
 * bytes goes to each of them on its head link: one hop, and one copy per node.
 * Gossip would have each node receive it from several mesh peers and pass it
 * on, several times the work in all; on gossip, the head sends a bigger update
 * to a few peers only, so its upload doesn't grow with the mesh.
 */
export const DIRECT_UPDATE_BYTES = 4 * 1024 * 1024
/** A node this far behind on reading its link hears of an update with its next heartbeat instead, and catches up. */
const MAX_LIVE_QUEUED_BYTES = 16 * 1024 * 1024

export interface UpdateFanoutInit {
  /** Which nodes were given each pool. */
  reach: PoolReach
  pools: PoolRegistry
  /** Publishes an update to the nodes that listen on gossip (remote nodes). */
  publish: (entry: UpdateEntry) => void
}

/**
 * A pool's updates on their way to nodes: each is logged in its pool's
 * update log and sent to the nodes given the pool, on their head links when
 * that is small (see {@link DIRECT_UPDATE_BYTES}), else published on gossip
 * (local nodes always get it on their channel); a node that missed some hears
 * the latest number with each heartbeat and catches up from the log.
 */
export class UpdateFanout {
  readonly #init: UpdateFanoutInit

  constructor(init: UpdateFanoutInit) {
    this.#init = init
  }

  /** A client's update: logged, published, and its number told to the client. */
  update(pool: PoolSession, message: Extract<ClientMessage, { type: 'update' }>): void {
    const entry = pool.log.append(message.value)
    const nodes = this.#init.reach.givenTo(entry.poolId)
    const direct = entry.value.byteLength * nodes.size <= DIRECT_UPDATE_BYTES
    if (!direct) this.#init.publish(entry)
    for (const node of nodes) {
      const send = node.local || (direct && node.channel.queuedBytes <= MAX_LIVE_QUEUED_BYTES)
      if (send) node.channel.send({ type: 'updates', entries: [entry], live: true })
    }
    pool.channel.send({ type: 'updated', reqId: message.reqId, seq: entry.seq })
  }

  /**
   * The latest update of each pool the node was given, in answer to its
   * heartbeat; not again while it is what the node was told last (a mesh at
   * rest sends no answers).
   */
  sendSeqs(node: NodeSession): void {
    const seqs: Array<{ poolId: number; seq: number }> = []
    for (const poolId of node.poolsSent) {
      const seq = this.#init.pools.seqOf(poolId)
      if (seq > 0) seqs.push({ poolId, seq })
    }
    const told = seqs.map(({ poolId, seq }) => `${poolId}:${seq}`).join(',')
    if (seqs.length === 0 || told === node.seqsTold) return
    node.seqsTold = told
    node.channel.send({ type: 'seqs', seqs })
  }

  /** A node asks for the updates it missed, from the log (or hears that the oldest of them were dropped). */
  catchup(node: NodeSession, message: Extract<NodeMessage, { type: 'catchup' }>): void {
    const pool = this.#init.pools.get(message.poolId)
    // A node that has not read the last answers yet gets no more (it asks again with its next heartbeat).
    if (pool === undefined || node.channel.queuedBytes > MAX_CATCHUP_QUEUED_BYTES) return
    const { entries, missed } = pool.log.since(message.from)
    node.channel.send({
      type: 'updates',
      entries,
      ...(missed > 0 ? { dropped: { poolId: message.poolId, through: message.from + missed } } : {}),
    })
  }
}

/**
 * Publishes updates on the gossip topic. A big update would not fit a gossip
 * message: gossip names it by hash, and nodes fetch it as a blob from the
 * head or from a node that has it already.
 */
export function gossipPublisher(
  pubsub: MeshPeer['services']['pubsub'],
  blobs: HeadBlobs,
  log: HeadLog,
): (entry: UpdateEntry) => void {
  return (entry) => {
    const frame =
      entry.value.byteLength > GOSSIP_INLINE_BYTES
        ? {
            type: 'updates',
            entries: [],
            announced: [{ poolId: entry.poolId, seq: entry.seq, hash: blobs.add(entry.value) }],
          }
        : { type: 'updates', entries: [entry] }
    pubsub.publish(UPDATES_TOPIC, encodeFrame(frame)).catch((err: Error) => {
      log('publishing update %d failed: %s', entry.seq, err.message)
    })
  }
}

import { join } from 'node:path'
import type { Logger } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type HeadToNodeMessage, type NodeMessage, WORK_PROTOCOL } from '@meshpool/core'
import type { Multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_DRAIN_TIMEOUT_MS } from '../defaults.js'
import { serveBlobs } from '../net/blob-transfer.js'
import type { Channel } from '../net/channel.js'
import { dialHead, headIdOf, parseHeadAddress } from '../net/dial.js'
import { HeadCursor, meshIdOf, parseHeadList } from '../net/head-list.js'
import { HeadWatch } from '../net/head-watch.js'
import { loadOrCreateIdentity } from '../net/identity.js'
import { checkListenAddress, DEFAULT_NODE_LISTEN } from '../net/listen-address.js'
import { createPeer, type MeshPeer } from '../net/peer.js'
import { type PoolAccess, poolSecret, swarmKey } from '../net/psk.js'
import type { GpuInfo } from '../worker-types.js'
import { NodeAgent } from './agent.js'
import type { NodeAgentInit } from './agent-init.js'
import { BlobStore, fetchBlob } from './blob-store.js'
import { ClientRoutes } from './client-routes.js'
import { CodeCache } from './code-cache.js'
import { fetchCode } from './code-fetch.js'
import { defaultSlots } from './gpus.js'
import { HeadReconnect } from './head-reconnect.js'
import { Neighbours } from './neighbours.js'
import { defaultStateDir } from './node-lock.js'
import { nodeLog } from './node-log.js'
import { defaultNodeName } from './node-name.js'
import { NodeShares } from './node-shares.js'

import { PeerGate } from './peer-gate.js'
import { lookupSlotUser, type SlotSetup, setUpSlots } from './slot-user.js'
import { UpdateGossip } from './update-gossip.js'

export { DEFAULT_DRAIN_TIMEOUT_MS } from '../defaults.js'

export interface NodeInit extends PoolAccess {
  /** The head's multiaddr; or every head of the mesh (a list, or one string with commas), the primary first. */
  head: string | string[]
  /** CPU slots. @default cores minus one, at least one */
  slots?: number
  /** One slot per GPU listed (see `planSlots`), instead of CPU slots. */
  gpus?: GpuInfo[]
  /** How the head, status and log prefixes name this node. @default see defaultNodeName */
  name?: string
  /**
   * The node's state folder: its identity (`node.key`, so its peer id survives restarts and a
   * revoke sticks) and the cache of shipped code (`code/`). Without one the node gets a new
   * peer id each run and caches code in ~/.meshpool/node/code.
   */
  stateDir?: string
  /**
   * Slots run as this user (needs root), so shipped code can read neither the node's
   * files (its identity, key files) nor its /proc entries. @default the node's own user
   */
  slotUser?: string
  /** The node's log: what its workers print (prefixed with node and slot) and notes about pools. */
  onLine?: (line: string) => void
  /**
   * Told when the connection to the head drops and comes back, when the head revokes this
   * node (it stops at once), and when the head asks it to stop (it drains first).
   */
  onStatus?: (status: 'connected' | 'disconnected' | 'revoked' | 'stopped', detail?: string) => void
  /** On a stop from the head, how long running jobs may finish. @default 30000 */
  drainTimeoutMs?: number
  /**
   * Where this node listens for other nodes (the gossip mesh, big updates); none: it only dials out.
   * @default '/ip4/0.0.0.0/tcp/0' (all interfaces, a free port)
   */
  listen?: string[]
  /**
   * @internal Makes slot `index`'s process, instead of a slot process each: the bench's
   * simulated nodes (`bench/sim-nodes.js`) run their slots in their own process. Not a feature.
   */
  slotProcess?: NodeAgentInit['slotProcess']
}

export interface RunningNode {
  peerId: string
  slots: number
  /** Where other nodes reach this one (the gossip mesh and big updates). */
  addresses: string[]
  /** Takes no new jobs, gives back those not started, and waits up to `timeoutMs` for the running ones. */
  drain(timeoutMs?: number): Promise<void>
  /** Leaves at once: the head requeues whatever this node still held. */
  stop(): Promise<void>
}

/**
 * Joins a head: dials it (failing fast with a clear error on a wrong password,
 * an unreachable address or a peer that is no head), starts the slots, listens
 * for updates from the head alone, and reconnects if the head goes away.
 */
export async function joinHead(init: NodeInit): Promise<RunningNode> {
  const heads = new HeadCursor(parseHeadList(init.head, 'the head address'))
  const headPeerId = meshIdOf(heads.heads)
  const headAddr = (): Multiaddr => parseHeadAddress(heads.current)
  const listen = init.listen ?? [DEFAULT_NODE_LISTEN]
  for (const address of listen) checkListenAddress(address)
  const secret = poolSecret(init, headPeerId)
  const slotUser = init.slotUser === undefined ? undefined : lookupSlotUser(init.slotUser)
  const gate = new PeerGate(headPeerId, heads.peerIds)
  const peer = await nodePeer(init.stateDir, { listen, secret, gate })
  const name = init.name ?? defaultNodeName(peer.peerId.toString())
  const log = nodeLog('node', name)
  const blobs = new BlobStore()
  const shares = new NodeShares((hash, shelf) => fetchBlob(peer, headAddr(), hash, shelf, nodeLog('blobs', name)))
  await serveBlobs(peer, (hash) => blobs.get(hash) ?? shares.get(hash))
  const codeDir = join(init.stateDir ?? defaultStateDir(), 'code')
  const code = new CodeCache(codeDir, (hash) => fetchCode(peer, headAddr(), hash), init.onLine)
  const slotSetup = await setUpSlots(slotUser, (hash) => code.path(hash))
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    reconnect.stop()
    neighbours.stop()
    await agent.stop()
    gossip.stop()
    await slotSetup.close()
    await peer.stop()
  }
  const { agent, neighbours } = nodeAgent(init, {
    name,
    peer,
    headPeerId,
    headPeerIds: heads.peerIds,
    gate,
    slotSetup,
    shares,
    headAddr,
    log,
    stop,
  })
  const headPeerIds = heads.peerIds
  const gossip = new UpdateGossip({ peer, headPeerIds, head: headAddr, agent, blobs, onLine: init.onLine, log, name })
  const dial = () => heads.dial((head) => dialHead(peer, head, WORK_PROTOCOL, secret))
  const reconnect = new HeadReconnect({ agent, dial, onStatus: init.onStatus, log, watch: headWatch(peer, heads) })
  try {
    gossip.start()
    const first = await dial()
    agent.start()
    reconnect.start(first)
    await agent.welcomed()
  } catch (err) {
    await stop()
    throw err
  }
  const drain = (timeoutMs = DEFAULT_DRAIN_TIMEOUT_MS) => agent.drain(timeoutMs)
  return { peerId: peer.peerId.toString(), slots: agent.slots, addresses: neighbours.addrs(), drain, stop }
}

/**
 * Wraps each channel to a head: a standby's `standby` frame sends the node on
 * to the active head, and with several heads a head that answers no ping
 * (frozen) is left for the next.
 */
function headWatch(
  peer: MeshPeer,
  heads: HeadCursor,
): (channel: Channel<HeadToNodeMessage, NodeMessage>) => Channel<HeadToNodeMessage, NodeMessage> {
  return (channel) => {
    const head = heads.current
    const ping =
      heads.heads.length > 1
        ? (signal: AbortSignal) => peer.services.ping.ping(peerIdFromString(headIdOf(head)), { signal })
        : undefined
    return new HeadWatch(channel, {
      head,
      onStandby: (redirect) => heads.redirect(redirect.active),
      ...(ping === undefined ? {} : { ping }),
    })
  }
}

/** The node's peer: its identity kept in the state folder (if any), refusing whom the gate refuses. */
async function nodePeer(
  stateDir: string | undefined,
  { listen, secret, gate }: { listen: string[]; secret: Uint8Array; gate: PeerGate },
): Promise<MeshPeer> {
  const privateKey = stateDir === undefined ? undefined : await loadOrCreateIdentity(join(stateDir, 'node.key'))
  const peer = await createPeer({
    psk: swarmKey(secret),
    listen,
    refuse: (peerId) => gate.refusal(peerId),
    ...(privateKey === undefined ? {} : { privateKey }),
  })
  gate.guard(peer)
  return peer
}

interface NodeContext {
  name: string
  peer: MeshPeer
  headPeerId: string
  /** Every head of the mesh. */
  headPeerIds: ReadonlySet<string>
  gate: PeerGate
  slotSetup: SlotSetup
  shares: NodeShares
  /** The head this node is joined to now. */
  headAddr: () => Multiaddr
  log: Logger
  /** Stops the whole node. */
  stop: () => Promise<void>
}

/**
 * The node's agent and its mesh neighbours, which refer to each other; the
 * agent stops the node when the head revokes it, and drains first when the
 * head asks it to stop.
 */
function nodeAgent(init: NodeInit, node: NodeContext): { agent: NodeAgent; neighbours: Neighbours } {
  const { peer, slotSetup, stop } = node
  const neighbours = new Neighbours(peer, node.headPeerIds, () => agent.findPeers(), nodeLog('mesh', node.name))
  const agent: NodeAgent = new NodeAgent({
    slots: init.slots ?? defaultSlots(),
    name: node.name,
    ...(init.gpus === undefined ? {} : { gpus: init.gpus }),
    modulePath: slotSetup.modulePath,
    shares: node.shares,
    routes: new ClientRoutes(peer, node.headAddr, nodeLog('blobs', node.name)),
    ...(slotSetup.user === undefined ? {} : { slotUser: slotSetup.user }),
    ...(init.onLine === undefined ? {} : { onLine: init.onLine }),
    ...(init.slotProcess === undefined ? {} : { slotProcess: init.slotProcess }),
    log: node.log,
    addrs: () => neighbours.addrs(),
    onPeers: (peers) => neighbours.offer(peers),
    onStopAsked: () => {
      void agent
        .drain(init.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS)
        .then(stop)
        .then(() => init.onStatus?.('stopped', 'the head asked this node to stop'))
    },
    onRevoked: (peerIds) => {
      if (!node.gate.revoke(peerIds, init.onLine)) return
      void stop().then(() => init.onStatus?.('revoked', 'the head revoked this node: it is refused from now on'))
    },
    onAllowed: (peerIds) => node.gate.allow(peerIds),
  })
  neighbours.start()
  return { agent, neighbours }
}

import { yamux } from '@chainsafe/libp2p-yamux'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import { identify } from '@libp2p/identify'
import type { PeerId, PrivateKey, ServiceMap } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p, type ServiceFactoryMap } from 'libp2p'
import { HandshakeGate, type PendingConnection } from './handshake-gate.js'
import {
  HANDSHAKE_DEADLINE_MS,
  MAX_CONNECTIONS_PER_IP,
  MAX_PENDING_HANDSHAKES,
  MAX_PENDING_HANDSHAKES_PER_IP,
} from './limits.js'
import { type PeerRefusal, poolKeyNoise } from './pool-key-noise.js'
import { secretOfSwarmKey } from './psk.js'

/**
 * libp2p's connection monitor pings every connection this often, and aborts the connection
 * when a ping fails: every job of a node on it is lost. Frozen peers are found by lease expiry
 * and dead ones by the socket closing, so the monitor only has to clean up connections that
 * went silent (a peer cut off): it can be slow, and must never fail a live peer that is merely
 * busy. Each ping is a new stream with a protocol negotiation at both ends of every connection:
 * at 2 s, 100 idle nodes in one process (bench/many-nodes.js) used 68 % of a core and their
 * head 15 %; at 30 s, 15 % and 5 %. At 30 s the pings were still 40 % of an idle head's CPU
 * with 500 nodes (perf of the head over 30 s: 992 samples, 584 at 120 s); with 1,000 nodes it
 * used 12.7 % of a core (bench case i). Jobs don't wait on it: leases move them in leaseMs.
 */
export const PING_INTERVAL_MS = 120_000
/**
 * A ping that takes longer fails, and its connection with it. Far above the default lease
 * (3 s): a busy peer loses its leases long before its connection. A process whose event loop
 * was held up runs its timers before it reads its sockets, so a ping answered in time can still
 * time out there. And shorter than {@link PING_INTERVAL_MS}, so two pings never overlap on one
 * connection: libp2p's ping allows one outbound stream per connection, and a second ping fails
 * at once (TooManyOutboundProtocolStreamsError), which aborts the connection too.
 */
export const PING_TIMEOUT_MS = 20_000

export interface PeerInit {
  /** The pool key, in the swarm-key text form derivePoolKey gives. */
  psk: Uint8Array
  privateKey?: PrivateKey
  /** Multiaddrs to listen on; none for a peer that only dials. */
  listen?: string[]
  /**
   * Peers to refuse (revoked ones, or not on the head's allow-list), and why:
   * no connection with them either way.
   */
  refuse?: (peerId: string) => PeerRefusal | undefined
  /** Called when a peer with the pool key is refused at the handshake. */
  onRefused?: (peerId: string, why: PeerRefusal) => void
  /**
   * A head: the one author of updates. It sends each to its gossip mesh only
   * (6 to 12 nodes) and tells no other node that it has it (no IHAVE), so
   * nodes outside its mesh fetch it from nodes, never from the head, and its
   * upload per update doesn't grow with the mesh. Nodes still gossip IHAVEs
   * among themselves, and one that missed an update catches up from the head's
   * log on its next heartbeat.
   */
  publisher?: boolean
}

/**
 * Gossipsub for the head and the nodes. Loaded only for them: a client or
 * `meshpool status` only dials, and starts sooner without it.
 */
async function pubsub(publisher: boolean) {
  const { gossipsub } = await import('@libp2p/gossipsub')
  // All pubsub wiring lives here: swapping gossipsub implementations is a one-line change.
  // Every peer has the pool key: gossipsub's penalty for many peers behind one IP address
  // (meant for open networks) would stop the head publishing to 11+ nodes on one host or NAT.
  // No flood publishing: the head sends an update to its mesh peers (6 to 12), and nodes pass it
  // on to their neighbours, so the head's upload does not grow with the number of nodes.
  return gossipsub({
    allowPublishToZeroTopicPeers: true,
    emitSelf: false,
    floodPublish: false,
    ...(publisher ? { Dlazy: 0, gossipFactor: 0 } : {}),
    // Each node hears an update from several mesh peers: knowing a copy by its author and number
    // skips verifying the signature of every copy after the first (the biggest CPU cost in a
    // profile of 20 nodes, 4× less verifying with it).
    fastMsgIdFn: (rpc) => fastMessageId(rpc.from, rpc.seqno),
    scoreParams: { IPColocationFactorWeight: 0 },
  })
}

/** Author and sequence number of a raw gossip message: the same id gossipsub gives a signed one. */
function fastMessageId(from: Uint8Array | undefined, seqno: Uint8Array | undefined): string {
  if (from === undefined || seqno === undefined) return ''
  return `${Buffer.from(from.buffer, from.byteOffset, from.byteLength).toString('base64')}:${Buffer.from(seqno.buffer, seqno.byteOffset, seqno.byteLength).toString('base64')}`
}

/** What the gater sees of an inbound connection before its upgrade. */
interface RawConnection {
  remoteAddr: Multiaddr
  abort(err: Error): void
  addEventListener(type: 'close', listener: () => void, options?: { once?: boolean }): void
}

/**
 * Refuses revoked and unlisted peers either way, and a connection from an IP address that
 * already has {@link MAX_CONNECTIONS_PER_IP} (checked before any crypto).
 * Connections still in their handshake pass through a {@link HandshakeGate},
 * so idle sockets can't fill the pending slots that members need.
 */
function gater(deny: (peerId: string) => boolean, connectionsFrom: (ip: string) => number) {
  const handshakes = new HandshakeGate({
    maxPending: MAX_PENDING_HANDSHAKES,
    maxPendingPerIp: MAX_PENDING_HANDSHAKES_PER_IP,
  })
  const inHandshake = new WeakMap<RawConnection, PendingConnection>()
  return {
    denyInboundConnection: (connection: RawConnection) => {
      const ip = ipOf(connection.remoteAddr)
      if (ip === undefined) return false
      if (connectionsFrom(ip) >= MAX_CONNECTIONS_PER_IP) return true
      const pending: PendingConnection = { ip, abort: (err) => connection.abort(err) }
      inHandshake.set(connection, pending)
      handshakes.admit(pending)
      connection.addEventListener('close', () => handshakes.done(pending), { once: true })
      return false
    },
    denyDialPeer: (peerId: PeerId) => deny(peerId.toString()),
    denyInboundEncryptedConnection: (peerId: PeerId, connection: RawConnection) => {
      // Past the pool key and Noise: a member, no longer a pending handshake.
      const pending = inHandshake.get(connection)
      if (pending !== undefined) handshakes.done(pending)
      return deny(peerId.toString())
    },
    denyOutboundEncryptedConnection: (peerId: PeerId) => deny(peerId.toString()),
  }
}

function ipOf(address: Multiaddr): string | undefined {
  return address.getComponents().find((c) => c.name === 'ip4' || c.name === 'ip6')?.value
}

/** A peer that only dials (a client, `meshpool status`): no gossip. */
export type DialingPeer = Libp2p<{ identify: Identify; ping: Ping }>
/** A peer of the mesh (the head, a node): it gossips updates too. */
export type MeshPeer = Libp2p<{ identify: Identify; ping: Ping; pubsub: GossipSub }>

/**
 * A libp2p peer of a pool: TCP, Noise with a proof of the pool key inside it
 * (no protocol runs before both sides proved it), Yamux streams, identify,
 * ping and gossipsub. Connection
 * limits are set so that dozens of nodes can join a head in the same second.
 */
export async function createPeer(init: PeerInit): Promise<MeshPeer> {
  const services = { identify: identify(), ping: ping(), pubsub: await pubsub(init.publisher === true) }
  return startPeer(init, services)
}

/** The same peer without gossip, for a caller that only dials the head (see {@link DialingPeer}). */
export async function createDialingPeer(init: PeerInit): Promise<DialingPeer> {
  return startPeer(init, { identify: identify(), ping: ping() })
}

async function startPeer<T extends ServiceMap>(init: PeerInit, services: ServiceFactoryMap<T>): Promise<Libp2p<T>> {
  let peer: Libp2p | undefined
  const refuse = init.refuse ?? (() => undefined)
  const deny = (peerId: string): boolean => refuse(peerId) !== undefined
  const connectionsFrom = (ip: string): number =>
    peer?.getConnections().filter((c) => ipOf(c.remoteAddr) === ip).length ?? 0
  const started = await createLibp2p({
    ...(init.privateKey === undefined ? {} : { privateKey: init.privateKey }),
    addresses: { listen: init.listen ?? [] },
    transports: [tcp()],
    connectionGater: gater(deny, connectionsFrom),
    // Noise proves each side's identity, then each side proves the pool key (see poolKeyNoise).
    connectionEncrypters: [
      poolKeyNoise({
        secret: secretOfSwarmKey(init.psk),
        refuse,
        ...(init.onRefused === undefined ? {} : { onRefused: init.onRefused }),
      }),
    ],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: 1024,
      inboundConnectionThreshold: 1024,
      // libp2p's own bound refuses fresh connections once full: ours (the gater) pushes out old ones
      // instead, so libp2p's is only a backstop above it.
      maxIncomingPendingConnections: 4 * MAX_PENDING_HANDSHAKES,
      inboundUpgradeTimeout: HANDSHAKE_DEADLINE_MS,
    },
    connectionMonitor: {
      pingInterval: PING_INTERVAL_MS,
      pingTimeout: { minTimeout: PING_TIMEOUT_MS, maxTimeout: PING_TIMEOUT_MS },
    },
    services,
  })
  peer = started
  return started
}

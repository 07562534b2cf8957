import type { Logger, PeerId, Stream } from '@libp2p/interface'
import { type PeerInfo, RELAY_PROTOCOL } from '@meshpool/core'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { MeshPeer } from '../net/peer.js'

/** How long a dial of a pool's client may take before the node goes through the head. */
const CLIENT_DIAL_TIMEOUT_MS = 3000
/** A client that could not be dialed is not tried again for this long. */
const UNREACHABLE_MS = 30_000

/** What a node needs of its peer to reach clients. */
export type RoutesPeer = Pick<MeshPeer, 'dial' | 'dialProtocol' | 'getConnections'>

/**
 * How a node reaches a pool's client for big params and results (see
 * BlobRef): on a connection it has to the client, else by dialing where the
 * client listens, else (a client out of reach is remembered a while) through
 * the head's relay.
 */
export class ClientRoutes {
  readonly #peer: RoutesPeer
  readonly #head: () => Multiaddr | PeerId
  readonly log: Logger
  /** Clients this node could not dial, until when. */
  readonly #unreachable = new Map<string, number>()

  /** `head`: the head this node is joined to now. */
  constructor(peer: RoutesPeer, head: () => Multiaddr | PeerId, log: Logger) {
    this.#peer = peer
    this.#head = head
    this.log = log
  }

  /** A stream to the client on `protocol`, straight; undefined when it is out of reach (the reason is logged). */
  async direct(client: PeerInfo | undefined, protocol: string, signal: AbortSignal): Promise<Stream | undefined> {
    if (client === undefined || (this.#unreachable.get(client.peerId) ?? 0) > Date.now()) return undefined
    const connection = this.#peer.getConnections().find((c) => c.remotePeer.toString() === client.peerId)
    try {
      if (connection !== undefined) return await connection.newStream(protocol, { signal })
      if (client.addrs.length === 0) return undefined
      const dial = AbortSignal.any([signal, AbortSignal.timeout(CLIENT_DIAL_TIMEOUT_MS)])
      const dialed = await this.#peer.dial(
        client.addrs.map((a) => multiaddr(a)),
        { signal: dial },
      )
      return await dialed.newStream(protocol, { signal })
    } catch (err) {
      if (signal.aborted) throw err
      this.#unreachable.set(client.peerId, Date.now() + UNREACHABLE_MS)
      this.log('the client %s is out of reach (%s): going through the head', client.peerId, (err as Error).message)
      return undefined
    }
  }

  /** A stream through the head's relay (its first frame, the request, is the caller's to send). */
  relayed(signal: AbortSignal): Promise<Stream> {
    return this.#peer.dialProtocol(this.#head(), RELAY_PROTOCOL, { signal })
  }
}

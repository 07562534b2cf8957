import { peerIdFromString } from '@libp2p/peer-id'
import type { MeshPeer } from '../net/peer.js'
import { isPeerId } from '../net/peer-id.js'
import type { PeerRefusal } from '../net/pool-key-noise.js'
import { sortRevoked } from './revoked-peers.js'

/**
 * Which peers a node lets in: none the head revoked, and once the head sends
 * its --allow-peers list, none but those on it (with the head and the node
 * itself). The peer it guards asks it at each handshake; a list from the head
 * also hangs up on peers already connected that it now refuses.
 */
export class PeerGate {
  readonly #head: string
  /** Every head of the mesh: an allow-list never shuts one out. */
  readonly #heads: ReadonlySet<string>
  readonly #revoked = new Set<string>()
  #allowed: Set<string> | undefined
  #peer: MeshPeer | undefined

  constructor(headPeerId: string, heads: ReadonlySet<string> = new Set([headPeerId])) {
    this.#head = headPeerId
    this.#heads = heads
  }

  /** Why a peer is refused, if it is: what the guarded peer's handshake asks. */
  refusal(peerId: string): PeerRefusal | undefined {
    if (this.#revoked.has(peerId)) return 'revoked'
    if (this.#allowed !== undefined && !this.#allowed.has(peerId)) return 'unlisted'
    return undefined
  }

  /** The peer made with {@link refusal} as its `refuse`: the one to hang up on refused peers. */
  guard(peer: MeshPeer): void {
    this.#peer = peer
  }

  /**
   * The head revoked these peers: they are refused and hung up on. Says whether
   * this node is among them (it leaves then). A node never drops its own head.
   */
  revoke(peerIds: string[], onLine?: (line: string) => void): boolean {
    const self = this.#peer?.peerId.toString() ?? ''
    const { leave, drop, headNamed } = sortRevoked(peerIds, { self, head: this.#head })
    if (headNamed) onLine?.(`ignored a revoke of the head's own peer id ${this.#head}: a node never drops its head`)
    if (leave) return true
    for (const id of drop) this.#revoked.add(id)
    for (const id of drop) if (isPeerId(id)) this.#peer?.hangUp(peerIdFromString(id)).catch(() => {})
    return false
  }

  /** The head's allow-list: from now on only those peers get in, and those connected that aren't on it are cut off. */
  allow(peerIds: string[]): void {
    const list = new Set([...peerIds, ...this.#heads, this.#head, this.#peer?.peerId.toString() ?? ''])
    this.#allowed = list
    for (const connection of this.#peer?.getConnections() ?? [])
      if (!list.has(connection.remotePeer.toString())) connection.abort(new Error('not on the --allow-peers list'))
  }
}

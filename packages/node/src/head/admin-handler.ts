import type { ClientMessage, HeadsInfo, HeadToClientMessage, LedgerCounts } from '@meshpool/core'
import type { Channel } from '../net/channel.js'
import { isPeerId } from '../net/peer-id.js'
import type { HeadStats, NodeAdmission } from './head-types.js'
import type { NodeRegistry } from './node-registry.js'

export interface AdminHandlerInit {
  nodes: NodeRegistry
  admission: NodeAdmission | undefined
  /** Why a revoke or stop that carries this admin key is refused; undefined: it may. */
  adminRefusal: (adminKey: string | undefined) => string | undefined
  counts: () => LedgerCounts
  stats: () => HeadStats
  disconnect: (peerId: string) => void
  note: (line: string) => void
  /** A refused request, said once a second at most (a member could send many). */
  noteRefusal: (line: string) => void
  /** Which head of the mesh is active (see HeadServiceInit.heads). */
  heads?: () => HeadsInfo
}

/**
 * The requests any client may send without opening a pool (`meshpool status`,
 * `stop` and `revoke`), and a pool's question of how big the mesh is.
 */
export class AdminHandler {
  readonly #init: AdminHandlerInit

  constructor(init: AdminHandlerInit) {
    this.#init = init
  }

  /** Answers an admin request; false: the message is not one. */
  handle(channel: Channel<ClientMessage, HeadToClientMessage>, message: ClientMessage): boolean {
    switch (message.type) {
      case 'revoke':
        channel.send(this.#revokeRequest(message))
        return true
      case 'nodes': {
        const { queued, leased } = this.#init.counts()
        const heads = this.#init.heads?.()
        const nodes = this.#init.nodes.info()
        channel.send({
          type: 'nodes',
          reqId: message.reqId,
          nodes,
          queued,
          leased,
          ...(heads === undefined ? {} : { heads }),
        })
        return true
      }
      case 'stopNodes':
        channel.send(this.#stopNodes(message))
        return true
      default:
        return false
    }
  }

  /** A pool's stats request: the mesh's slots (its workers) and nodes. */
  stats(channel: Channel<ClientMessage, HeadToClientMessage>, reqId: number): void {
    const { workers, nodes } = this.#init.stats()
    channel.send({ type: 'stats', reqId, workers, nodes })
  }

  /**
   * Revokes a peer: it is refused from now on (see Admission), a node of that id
   * is told and disconnected (its leases go back to the queue at once), and the
   * other nodes drop it from the mesh. Says whether it had ever joined.
   */
  revoke(peerId: string): boolean {
    const { nodes, admission } = this.#init
    const known = admission?.revoke(peerId) ?? nodes.has(peerId)
    this.#init.note(`revoked ${peerId}${known ? '' : ' (it never joined)'}`)
    for (const node of nodes.values()) if (!node.local) node.channel.send({ type: 'revoked', peerIds: [peerId] })
    const node = nodes.get(peerId)
    if (node !== undefined && !node.local) {
      nodes.gone(node, new Error('revoked'))
      node.channel.close()
    }
    this.#init.disconnect(peerId)
    return known
  }

  #revokeRequest(message: Extract<ClientMessage, { type: 'revoke' }>): HeadToClientMessage {
    const { reqId, peerId } = message
    const refused = this.#init.adminRefusal(message.adminKey) ?? this.#init.admission?.revokeRefusal(peerId)
    if (refused !== undefined) {
      this.#init.noteRefusal(`refused to revoke ${peerId}: ${refused}`)
      return { type: 'revoked', reqId, peerId, known: false, refused }
    }
    // The clients meshpool ships check the id first; another one's nonsense is answered, and kept nowhere.
    const known = isPeerId(peerId) && this.revoke(peerId)
    return { type: 'revoked', reqId, peerId, known }
  }

  #stopNodes(message: Extract<ClientMessage, { type: 'stopNodes' }>): HeadToClientMessage {
    const refused = this.#init.adminRefusal(message.adminKey)
    if (refused !== undefined) {
      this.#init.noteRefusal(`refused to stop ${message.nodeIds.length} node(s): ${refused}`)
      return { type: 'stopping', reqId: message.reqId, nodeIds: [], refused }
    }
    const stopping = message.nodeIds.filter((id) => {
      const node = this.#init.nodes.get(id)
      if (node === undefined || node.local) return false
      node.channel.send({ type: 'stop' })
      return true
    })
    return { type: 'stopping', reqId: message.reqId, nodeIds: stopping }
  }
}

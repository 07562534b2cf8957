import { CLIENT_PROTOCOL, type ClientMessage, type HeadToClientMessage, inbound, type NodeInfo } from '@meshpool/core'
import { checkPeerId } from './admission.js'
import { StreamChannel } from './channel.js'
import { dialHead, headIdOf } from './dial.js'
import { createPeer } from './peer.js'
import { type PoolAccess, poolSecret, swarmKey } from './psk.js'

/** Where the head is, and the pool's secret: what `meshpool status`, `stop` and `revoke` need. */
export interface HeadAccess extends PoolAccess {
  /** The head's multiaddr. */
  head: string
}

export interface RevokeOptions extends HeadAccess {
  /** The peer id of the node to revoke (the 12D3KooW… it prints). */
  peerId: string
}

export interface MeshStatus {
  nodes: NodeInfo[]
  /** Jobs of every pool waiting for a slot, and running. */
  queued: number
  leased: number
}

type Reply<T extends HeadToClientMessage['type']> = Extract<HeadToClientMessage, { type: T }>

/** Sends one request to the head without opening a pool, and waits for its answer. */
async function ask<T extends HeadToClientMessage['type']>(
  options: HeadAccess,
  request: ClientMessage,
  answer: T,
): Promise<Reply<T>> {
  const secret = poolSecret(options, headIdOf(options.head))
  const peer = await createPeer({ psk: swarmKey(secret) })
  try {
    const stream = await dialHead(peer, options.head, CLIENT_PROTOCOL, secret)
    const channel = new StreamChannel<HeadToClientMessage, ClientMessage>(stream, inbound.client)
    return await new Promise<Reply<T>>((resolve, reject) => {
      channel.start({
        message: (message) => {
          if (message.type !== answer) return
          resolve(message as Reply<T>)
          channel.close()
        },
        close: (reason) => reject(reason ?? new Error('the head closed the connection before answering')),
      })
      channel.send(request)
    })
  } finally {
    await peer.stop()
  }
}

/**
 * Revokes a node without opening a pool (`meshpool revoke`): the head disconnects
 * it and refuses it from then on. Resolves with whether it had ever joined.
 */
export async function revokeNode(options: RevokeOptions): Promise<boolean> {
  checkPeerId(options.peerId, 'revoke')
  return (await ask(options, { type: 'revoke', reqId: 1, peerId: options.peerId }, 'revoked')).known
}

/** Every node of the mesh and the jobs in it (`meshpool status`). */
export async function meshStatus(options: HeadAccess): Promise<MeshStatus> {
  const { nodes, queued, leased } = await ask(options, { type: 'nodes', reqId: 1 }, 'nodes')
  return { nodes, queued, leased }
}

/** Asks nodes to finish their running jobs and leave (`meshpool stop`); resolves with those that were there. */
export async function stopNodes(options: HeadAccess & { nodeIds: string[] }): Promise<string[]> {
  for (const id of options.nodeIds) checkPeerId(id, 'stop')
  return (await ask(options, { type: 'stopNodes', reqId: 1, nodeIds: options.nodeIds }, 'stopping')).nodeIds
}

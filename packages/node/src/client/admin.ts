import {
  AdminRefusedError,
  CLIENT_PROTOCOL,
  type ClientMessage,
  type HeadToClientMessage,
  inbound,
  type NodeInfo,
  NodeRefusedError,
} from '@meshpool/core'
import { callerAdminKey } from '../net/admin-key.js'
import { StreamChannel } from '../net/channel.js'
import { dialHead, headIdOf } from '../net/dial.js'
import { clientIdentity } from '../net/identity.js'
import { createPeer } from '../net/peer.js'
import { checkPeerId } from '../net/peer-id.js'
import { type PoolAccess, poolSecret, swarmKey } from '../net/psk.js'
import { requestOnce } from '../net/request.js'

/** Where the head is, and the pool's secret: what `meshpool status`, `stop` and `revoke` need. */
export interface HeadAccess extends PoolAccess {
  /** The head's multiaddr. */
  head: string
  /**
   * This caller's identity, for a head with --allow-peers.
   * @default process.env.MESHPOOL_CLIENT_KEY_FILE, else ~/.meshpool/client.key if it exists
   */
  identityFile?: string
}

/** What `revoke` and `stop` need beside: the head's admin key. */
export interface AdminAccess extends HeadAccess {
  /**
   * The admin.key file the head wrote beside its key file.
   * @default process.env.MESHPOOL_ADMIN_KEY_FILE, else ~/.meshpool/admin.key if it exists
   */
  adminKeyFile?: string
}

export interface RevokeOptions extends AdminAccess {
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
  const privateKey = await clientIdentity(options.identityFile)
  const peer = await createPeer({ psk: swarmKey(secret), ...(privateKey === undefined ? {} : { privateKey }) })
  try {
    const stream = await dialHead(peer, options.head, CLIENT_PROTOCOL, secret)
    return await requestOnce(new StreamChannel<HeadToClientMessage, ClientMessage>(stream, inbound.client), {
      request,
      answer: (message) => {
        if (message.type === 'refused') throw new NodeRefusedError(`the head refused this caller: ${message.message}`)
        if (message.type !== answer) return undefined
        if ('refused' in message && message.refused !== undefined) {
          throw new AdminRefusedError(`the head refused: ${message.refused}`)
        }
        return message as Reply<T>
      },
      closedBefore: 'the head closed the connection before answering',
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
  const adminKey = callerAdminKey(options.adminKeyFile, { orDefault: true })
  const request = {
    type: 'revoke' as const,
    reqId: 1,
    peerId: options.peerId,
    ...(adminKey === undefined ? {} : { adminKey }),
  }
  return (await ask(options, request, 'revoked')).known
}

/** Every node of the mesh and the jobs in it (`meshpool status`). */
export async function meshStatus(options: HeadAccess): Promise<MeshStatus> {
  const { nodes, queued, leased } = await ask(options, { type: 'nodes', reqId: 1 }, 'nodes')
  return { nodes, queued, leased }
}

/** Asks nodes to finish their running jobs and leave (`meshpool stop`); resolves with those that were there. */
export async function stopNodes(options: AdminAccess & { nodeIds: string[] }): Promise<string[]> {
  for (const id of options.nodeIds) checkPeerId(id, 'stop')
  const adminKey = callerAdminKey(options.adminKeyFile, { orDefault: true })
  const request = {
    type: 'stopNodes' as const,
    reqId: 1,
    nodeIds: options.nodeIds,
    ...(adminKey === undefined ? {} : { adminKey }),
  }
  return (await ask(options, request, 'stopping')).nodeIds
}

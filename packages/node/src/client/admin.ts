import {
  AdminRefusedError,
  CLIENT_PROTOCOL,
  type ClientMessage,
  type HeadsInfo,
  type HeadToClientMessage,
  HeadUnreachableError,
  inbound,
  type NodeInfo,
  NodeRefusedError,
} from '@meshpool/core'
import { callerAdminKey } from '../net/admin-key.js'
import { StreamChannel } from '../net/channel.js'
import { dialHead } from '../net/dial.js'
import { HeadCursor, meshIdOf, parseHeadList } from '../net/head-list.js'
import { StandbyRedirect } from '../net/head-watch.js'
import { clientIdentity } from '../net/identity.js'
import { createDialingPeer } from '../net/peer.js'
import { checkPeerId } from '../net/peer-id.js'
import { type PoolAccess, poolSecret, swarmKey } from '../net/psk.js'
import { requestOnce } from '../net/request.js'

/** Where the head is, and the pool's secret: what `meshpool status`, `stop` and `revoke` need. */
export interface HeadAccess extends PoolAccess {
  /** The head's multiaddr; or every head of the mesh (a list, or one string with commas): the active one answers. */
  head: string | string[]
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
  /** Which head is active, since when, and the takeovers so far, as the head that answered knows it. */
  heads?: HeadsInfo
}

type Reply<T extends HeadToClientMessage['type']> = Extract<HeadToClientMessage, { type: T }>

/** Sends one request to the head without opening a pool, and waits for its answer. */
async function ask<T extends HeadToClientMessage['type']>(
  options: HeadAccess,
  request: ClientMessage,
  answer: T,
): Promise<Reply<T>> {
  const heads = new HeadCursor(parseHeadList(options.head, 'the head address'))
  const secret = poolSecret(options, meshIdOf(heads.heads))
  const privateKey = await clientIdentity(options.identityFile)
  const peer = await createDialingPeer({ psk: swarmKey(secret), ...(privateKey === undefined ? {} : { privateKey }) })
  try {
    // A standby answers with the active head's address: that one is asked next, once per head listed.
    for (let tries = 0; ; tries++) {
      const stream = await heads.dial((address) => dialHead(peer, address, CLIENT_PROTOCOL, secret))
      const head = heads.current
      try {
        return await requestOnce(new StreamChannel<HeadToClientMessage, ClientMessage>(stream, inbound.client), {
          request,
          answer: (message) => {
            if (message.type === 'standby') throw new StandbyRedirect(head, message.active)
            return answerOf(message, answer)
          },
          closedBefore: 'the head closed the connection before answering',
        })
      } catch (err) {
        if (!(err instanceof StandbyRedirect)) throw err
        if (tries >= heads.heads.length) {
          throw new HeadUnreachableError(
            `${err.message}: no head listed answered as the active head; list the active head too, and check that this machine reaches it`,
          )
        }
        heads.redirect(err.active)
      }
    }
  } finally {
    await peer.stop()
  }
}

/** The reply a request waits for (undefined: another), or the refusal it got. */
function answerOf<T extends HeadToClientMessage['type']>(
  message: HeadToClientMessage,
  answer: T,
): Reply<T> | undefined {
  if (message.type === 'refused') throw new NodeRefusedError(`the head refused this caller: ${message.message}`)
  if (message.type !== answer) return undefined
  if ('refused' in message && message.refused !== undefined) {
    throw new AdminRefusedError(`the head refused: ${message.refused}`)
  }
  return message as Reply<T>
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
  const { nodes, queued, leased, heads } = await ask(options, { type: 'nodes', reqId: 1 }, 'nodes')
  return { nodes, queued, leased, ...(heads === undefined ? {} : { heads }) }
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

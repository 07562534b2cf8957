import { peerIdFromString } from '@libp2p/peer-id'
import { CLIENT_PROTOCOL, inbound, WORK_PROTOCOL } from '@meshpool/core'
import { StreamChannel } from '../net/channel.js'
import { STREAMS_PER_CONNECTION } from '../net/limits.js'
import type { MeshPeer } from '../net/peer.js'
import { isPeerId } from '../net/peer-id.js'
import type { HeadService } from './head-service.js'
import type { HeadLog } from './head-types.js'

/** A revoked or refused node is cut off this long after it is told why. */
const HANG_UP_DELAY_MS = 500

/** Where a standby head sends its nodes and clients; undefined while the head is active. `nodeId`: a node asks. */
export type Redirect = (nodeId?: string) => { active: string | undefined } | undefined

/**
 * Serves the work protocol (nodes) and the client protocol (pools, admin
 * requests) with the head service; while `redirect` says this head is a
 * standby, each stream gets a `standby` frame naming the active head instead.
 */
export async function serveNodesAndClients(peer: MeshPeer, head: HeadService, redirect?: Redirect): Promise<void> {
  await peer.handle(
    WORK_PROTOCOL,
    (stream, connection) => {
      const channel = new StreamChannel(stream, inbound.head.work)
      if (sentAway(channel, redirect, connection.remotePeer.toString())) return
      const remoteIp = connection.remoteAddr.getComponents().find((c) => c.name === 'ip4' || c.name === 'ip6')?.value
      head.attachNode(connection.remotePeer.toString(), channel, { remoteIp })
    },
    { maxInboundStreams: STREAMS_PER_CONNECTION.work },
  )
  await peer.handle(
    CLIENT_PROTOCOL,
    (stream, connection) => {
      const channel = new StreamChannel(stream, inbound.head.client)
      if (!sentAway(channel, redirect)) head.attachClient(channel, { peerId: connection.remotePeer.toString() })
    },
    { maxInboundStreams: STREAMS_PER_CONNECTION.client },
  )
}

/** A standby's answer to a node or client: the active head's address, then the end of the stream. */
function sentAway(
  channel: StreamChannel<{ type: string }, { type: 'standby'; active?: string }>,
  redirect?: Redirect,
  nodeId?: string,
): boolean {
  const away = redirect?.(nodeId)
  if (away === undefined) return false
  channel.start({ message: () => {}, close: () => {} })
  channel.send({ type: 'standby', ...(away.active === undefined ? {} : { active: away.active }) })
  channel.close()
  return true
}

/** Cuts every connection to a peer, after the message that says why has gone out. */
export function hangUpLater(peer: MeshPeer, log: HeadLog): (peerId: string) => void {
  return (peerId) => {
    setTimeout(() => {
      if (isPeerId(peerId))
        peer.hangUp(peerIdFromString(peerId)).catch((err: Error) => log('hang up %s: %s', peerId, err.message))
    }, HANG_UP_DELAY_MS).unref()
  }
}

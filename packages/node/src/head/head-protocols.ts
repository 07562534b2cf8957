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

/** Serves the work protocol (nodes) and the client protocol (pools, admin requests) with the head service. */
export async function serveNodesAndClients(peer: MeshPeer, head: HeadService): Promise<void> {
  await peer.handle(
    WORK_PROTOCOL,
    (stream, connection) => {
      const remoteIp = connection.remoteAddr.getComponents().find((c) => c.name === 'ip4' || c.name === 'ip6')?.value
      head.attachNode(connection.remotePeer.toString(), new StreamChannel(stream, inbound.head.work), { remoteIp })
    },
    { maxInboundStreams: STREAMS_PER_CONNECTION.work },
  )
  await peer.handle(
    CLIENT_PROTOCOL,
    (stream, connection) =>
      head.attachClient(new StreamChannel(stream, inbound.head.client), { peerId: connection.remotePeer.toString() }),
    { maxInboundStreams: STREAMS_PER_CONNECTION.client },
  )
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

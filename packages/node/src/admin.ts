import { CLIENT_PROTOCOL, type ClientMessage, type HeadToClientMessage, inbound } from '@meshpool/core'
import { checkPeerId } from './admission.js'
import { StreamChannel } from './channel.js'
import { dialHead } from './dial.js'
import { createPeer } from './peer.js'
import { type PoolAccess, poolSecret, swarmKey } from './psk.js'

export interface RevokeOptions extends PoolAccess {
  /** The head's multiaddr. */
  head: string
  /** The peer id of the node to revoke (the 12D3KooW… it prints). */
  peerId: string
}

/**
 * Revokes a node without opening a pool (`meshpool revoke`): the head disconnects
 * it and refuses it from then on. Resolves with whether it had ever joined.
 */
export async function revokeNode(options: RevokeOptions): Promise<boolean> {
  checkPeerId(options.peerId, 'revoke')
  const secret = poolSecret(options)
  const peer = await createPeer({ psk: swarmKey(secret) })
  try {
    const stream = await dialHead(peer, options.head, CLIENT_PROTOCOL, secret)
    const channel = new StreamChannel<HeadToClientMessage, ClientMessage>(stream, inbound.client)
    return await new Promise<boolean>((resolve, reject) => {
      channel.start({
        message: (message) => {
          if (message.type !== 'revoked') return
          resolve(message.known)
          channel.close()
        },
        close: (reason) => reject(reason ?? new Error('the head closed the connection before answering')),
      })
      channel.send({ type: 'revoke', reqId: 1, peerId: options.peerId })
    })
  } finally {
    await peer.stop()
  }
}

import { peerIdFromString } from '@libp2p/peer-id'
import {
  CLIENT_PROTOCOL,
  type ClientMessage,
  type HeadToClientMessage,
  HeadUnreachableError,
  inbound,
} from '@meshpool/core'
import { StreamChannel } from '../net/channel.js'
import { dialHead, headIdOf } from '../net/dial.js'
import type { HeadCursor } from '../net/head-list.js'
import { HeadWatch, StandbyRedirect } from '../net/head-watch.js'
import type { DialingPeer } from '../net/peer.js'
import type { ClientChannel } from './client-link.js'
import type { PoolClient } from './pool-client.js'

/**
 * Opens a client channel to a head of the mesh: the one that answered last,
 * else the others in turn. With several heads the channel watches for a
 * standby's redirect (the cursor then points at the active head it names)
 * and for a head that answers no ping.
 */
export async function connectToHead(peer: DialingPeer, heads: HeadCursor, secret: Uint8Array): Promise<ClientChannel> {
  const stream = await heads.dial((head) => dialHead(peer, head, CLIENT_PROTOCOL, secret))
  const channel = new StreamChannel<HeadToClientMessage, ClientMessage>(stream, inbound.client)
  const head = heads.current
  const id = peerIdFromString(headIdOf(head))
  return new HeadWatch(channel, {
    head,
    // One head: no ping, as before (the libp2p connection monitor and the reconnect find a lost one).
    ...(heads.heads.length === 1 ? {} : { ping: (signal: AbortSignal) => peer.services.ping.ping(id, { signal }) }),
    onStandby: (redirect) => heads.redirect(redirect.active),
  })
}

/** The pool's first open: a standby that answers first sends it on to the active head, once per head listed. */
export async function openOnActiveHead(
  client: PoolClient,
  heads: HeadCursor,
  connect: () => Promise<ClientChannel>,
): Promise<void> {
  for (let tries = 0; ; tries++) {
    try {
      await client.open(await connect())
      return
    } catch (err) {
      if (!(err instanceof StandbyRedirect)) throw err
      if (tries >= heads.heads.length) {
        throw new HeadUnreachableError(
          `${err.message}: no head listed answered as the active head; list the active head too, and check that this machine reaches it`,
        )
      }
    }
  }
}

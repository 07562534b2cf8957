import { CODE_PROTOCOL, type CodeReply, type CodeRequest, inbound } from '@meshpool/core'
import type { Multiaddr } from '@multiformats/multiaddr'
import { StreamChannel } from '../net/channel.js'
import type { MeshPeer } from '../net/peer.js'
import { requestOnce } from '../net/request.js'

/** How long reaching the head for shipped code may take. */
const CODE_FETCH_TIMEOUT_MS = 60_000

/** Fetches shipped worker code from the head; undefined if the head has none by that hash. */
export async function fetchCode(peer: MeshPeer, head: Multiaddr, hash: string): Promise<Uint8Array | undefined> {
  const stream = await peer.dialProtocol(head, CODE_PROTOCOL, { signal: AbortSignal.timeout(CODE_FETCH_TIMEOUT_MS) })
  const channel = new StreamChannel<CodeReply, CodeRequest>(stream, inbound.codeReply)
  const reply = await requestOnce(channel, {
    request: { type: 'fetch', hash },
    answer: (reply) => (reply.hash === hash ? { code: reply.code } : undefined),
    closedBefore: 'the head closed the stream before sending the code',
  })
  return reply.code
}

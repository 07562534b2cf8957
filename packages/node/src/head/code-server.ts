import { CODE_PROTOCOL, type CodeReply, type CodeRequest, inbound } from '@meshpool/core'
import { serveFetches } from '../net/fetch-server.js'
import { STREAMS_PER_CONNECTION } from '../net/limits.js'
import type { MeshPeer } from '../net/peer.js'

export interface CodeServerInit {
  /** Whether a peer may fetch shipped code (the allow-list names it, when there is one). */
  mayFetch: (peerId: string) => boolean
  /** Shipped code by its hash. */
  code: (hash: string) => Uint8Array | undefined
}

/** Serves shipped worker code to the nodes that fetch it, one fetch at a time per stream. */
export async function serveCode(peer: MeshPeer, { mayFetch, code }: CodeServerInit): Promise<void> {
  await serveFetches<CodeRequest, CodeReply>(peer, {
    protocol: CODE_PROTOCOL,
    accepted: inbound.head.code,
    maxInboundStreams: STREAMS_PER_CONNECTION.code,
    refuse: (connection) => !mayFetch(connection.remotePeer.toString()),
    open: (send) => ({
      message: ({ hash }) => {
        const found = code(hash)
        send({ type: 'code', hash, ...(found === undefined ? {} : { code: found }) })
      },
    }),
  })
}

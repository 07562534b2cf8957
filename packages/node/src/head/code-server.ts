import { CODE_PROTOCOL, type CodeReply, type CodeRequest, FrameError, inbound } from '@meshpool/core'
import { StreamChannel } from '../net/channel.js'
import { MAX_REQUEST_FRAME_BYTES, STREAMS_PER_CONNECTION } from '../net/limits.js'
import type { MeshPeer } from '../net/peer.js'

export interface CodeServerInit {
  /** Whether a peer may fetch shipped code (the allow-list names it, when there is one). */
  mayFetch: (peerId: string) => boolean
  /** Shipped code by its hash. */
  code: (hash: string) => Uint8Array | undefined
}

/** Serves shipped worker code to the nodes that fetch it, one fetch at a time per stream. */
export async function serveCode(peer: MeshPeer, { mayFetch, code }: CodeServerInit): Promise<void> {
  await peer.handle(
    CODE_PROTOCOL,
    (stream, connection) => {
      if (!mayFetch(connection.remotePeer.toString())) return stream.abort(new Error('refused'))
      const channel = new StreamChannel<CodeRequest, CodeReply>(stream, inbound.head.code, {
        maxInFrameBytes: MAX_REQUEST_FRAME_BYTES,
      })
      channel.start({
        message: ({ hash }) => {
          // One fetch at a time: a peer that asks again before reading the answer is cut off.
          if (channel.queuedBytes > 0)
            return channel.close(new FrameError('a second code fetch before the first was read'))
          const found = code(hash)
          channel.send({ type: 'code', hash, ...(found === undefined ? {} : { code: found }) })
        },
        close: () => {},
      })
    },
    { maxInboundStreams: STREAMS_PER_CONNECTION.code },
  )
}

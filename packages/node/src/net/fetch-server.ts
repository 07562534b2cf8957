import type { Connection } from '@libp2p/interface'
import { type decodeFrame, FrameError } from '@meshpool/core'
import { StreamChannel } from './channel.js'
import { MAX_REQUEST_FRAME_BYTES } from './limits.js'
import type { MeshPeer } from './peer.js'

/** What a fetch server does with the requests of one stream. */
export interface FetchStream<Req> {
  message(request: Req): void
  close?(): void
}

export interface FetchServerInit<Req extends { type: string }, Reply extends object> {
  protocol: string
  /** The requests this protocol takes. */
  accepted: Parameters<typeof decodeFrame>[1]
  maxInboundStreams: number
  /** Largest frame a peer may send. @default MAX_REQUEST_FRAME_BYTES */
  maxFrameBytes?: number
  /** Whether a request is a fetch (answered with data); others (acknowledgements) pass. @default every request */
  isFetch?: (request: Req) => boolean
  /** Peers refused a stream (not on the allow-list). @default none */
  refuse?: (connection: Connection) => boolean
  /** Starts serving one stream: `send` answers on it; `whenSent` resolves once what was sent has gone out. */
  open(
    send: (reply: Reply) => void,
    connection: Connection,
    close: (err: Error) => void,
    whenSent: () => Promise<void>,
  ): FetchStream<Req>
}

/**
 * Serves a fetch protocol (code, blobs): request frames of at most
 * MAX_REQUEST_FRAME_BYTES, and one fetch at a time on each stream: a peer
 * that asks again before it has read the last answer is cut off, so no peer
 * can make the server queue answers it never reads.
 */
export async function serveFetches<Req extends { type: string }, Reply extends object>(
  peer: Pick<MeshPeer, 'handle'>,
  init: FetchServerInit<Req, Reply>,
): Promise<void> {
  const isFetch = init.isFetch ?? (() => true)
  await peer.handle(
    init.protocol,
    (stream, connection) => {
      if (init.refuse?.(connection) === true) return stream.abort(new Error('refused'))
      const channel = new StreamChannel<Req, Reply>(stream, init.accepted, {
        maxInFrameBytes: init.maxFrameBytes ?? MAX_REQUEST_FRAME_BYTES,
      })
      const close = (err: Error): void => channel.close(err)
      const served = init.open(
        (reply) => channel.send(reply),
        connection,
        close,
        () => channel.whenSent(),
      )
      channel.start({
        message: (request) => {
          if (isFetch(request) && channel.queuedBytes > 0) {
            return close(new FrameError(`a second ${request.type} before the answer to the first was read`))
          }
          served.message(request)
        },
        close: () => served.close?.(),
      })
    },
    { maxInboundStreams: init.maxInboundStreams },
  )
}

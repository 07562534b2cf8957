import type { Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { BLOB_PROTOCOL, encodeFrame, FrameError, inbound, RELAY_PROTOCOL, type RelayRequest } from '@meshpool/core'
import * as varint from 'uint8-varint'
import { drained, StreamChannel } from '../net/channel.js'
import { MAX_REQUEST_FRAME_BYTES, STREAMS_PER_CONNECTION } from '../net/limits.js'
import type { MeshPeer } from '../net/peer.js'
import { isPeerId } from '../net/peer-id.js'
import type { HeadLog } from './head-types.js'

export interface ParamsRelayInit {
  /** The peer id of a pool's client, while the pool is open here. */
  clientOf(poolId: number): string | undefined
  /** Whether a peer may fetch through the head (not refused by the allow-list). */
  mayFetch(peerId: string): boolean
  log: HeadLog
}

/**
 * The head's relay of big params (see ParamsBlob) for a node that can't reach
 * the pool's client: it asks the client over the client's own connection and
 * pipes the client's reply frames to the node as they come, undecoded and
 * unbuffered (the node's stream pushes back on the client's), so the head holds
 * a few chunks of a transfer, never the value. The node checks the bytes
 * against the hash.
 */
export async function serveParamsRelay(peer: MeshPeer, init: ParamsRelayInit): Promise<void> {
  await peer.handle(
    RELAY_PROTOCOL,
    (stream, connection) => {
      const requester = connection.remotePeer.toString()
      if (!init.mayFetch(requester)) return stream.abort(new Error('refused'))
      const channel = new StreamChannel<RelayRequest, never>(stream, inbound.relayRequest, {
        maxInFrameBytes: MAX_REQUEST_FRAME_BYTES,
      })
      let upstream: Stream | undefined
      let asked = false
      channel.start({
        message: (request) => {
          if (asked) return channel.close(new FrameError('one fetch per relay stream'))
          asked = true
          const client = init.clientOf(request.poolId)
          if (client === undefined || !isPeerId(client)) {
            return channel.close(new Error(`pool ${request.poolId} has no client here`))
          }
          relay(peer, client, request.hash, stream)
            .then((opened) => {
              upstream = opened
            })
            .catch((err: Error) => {
              init.log('relay of %s to %s failed: %s', request.hash.slice(0, 12), requester, err.message)
              channel.close(err)
            })
        },
        close: () => upstream?.abort(new Error('the node went away')),
      })
    },
    { maxInboundStreams: STREAMS_PER_CONNECTION.relay },
  )
}

/** Asks the client for the blob on a stream of its connection, and pipes the answer into `down`, then ends it. */
async function relay(peer: MeshPeer, client: string, hash: string, down: Stream): Promise<Stream> {
  const connection = peer.getConnections(peerIdFromString(client))[0]
  if (connection === undefined) throw new Error('the pool’s client is not connected')
  const up = await connection.newStream(BLOB_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  const body = encodeFrame({ type: 'fetch', hash })
  up.send(Buffer.concat([varint.encode(body.byteLength), body]))
  void (async () => {
    try {
      for await (const chunk of up) {
        if (!down.send(chunk)) await drained(down)
      }
      await down.close()
    } catch (err) {
      down.abort(err instanceof Error ? err : new Error(String(err)))
      up.abort(new Error('the node went away'))
    }
  })()
  return up
}

import type { Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  BLOB_PROTOCOL,
  checkFrameStart,
  decodeFrame,
  encodeFrame,
  FRAME_START_BYTES,
  FrameError,
  inbound,
  RELAY_PROTOCOL,
  RESULT_PROTOCOL,
  type RelayRequest,
} from '@meshpool/core'
import * as varint from 'uint8-varint'
import { drained } from '../net/channel.js'
import { FrameReader } from '../net/frame-reader.js'
import { MAX_REQUEST_FRAME_BYTES, STREAMS_PER_CONNECTION } from '../net/limits.js'
import type { MeshPeer } from '../net/peer.js'
import { isPeerId } from '../net/peer-id.js'
import type { HeadLog } from './head-types.js'

export interface ValueRelayInit {
  /** The peer id of a pool's client, while the pool is open here. */
  clientOf(poolId: number): string | undefined
  /** Whether a peer may relay through the head (not refused by the allow-list). */
  mayRelay(peerId: string): boolean
  log: HeadLog
}

/** How long the head waits for a relay's first frame, and for a stream to the client. */
const RELAY_SETUP_MS = 10_000

/**
 * The head's relay of big values (see BlobRef) between a node and a pool's
 * client that the node can't reach: a job's params from the client (`fetch`),
 * or its result to the client (`push`). The head reads the node's first frame,
 * opens the matching stream on the client's own connection, and pipes both
 * ways, undecoded and unbuffered (each side's stream pushes back on the other),
 * so it holds a few chunks of a transfer, never the value. Hashes are checked
 * at the ends.
 */
export async function serveValueRelay(peer: MeshPeer, init: ValueRelayInit): Promise<void> {
  await peer.handle(
    RELAY_PROTOCOL,
    (stream, connection) => {
      const requester = connection.remotePeer.toString()
      if (!init.mayRelay(requester)) return stream.abort(new Error('refused'))
      relay(peer, stream, init).catch((err: Error) => {
        init.log('relay for %s failed: %s', requester, err.message)
        stream.abort(err)
      })
    },
    { maxInboundStreams: STREAMS_PER_CONNECTION.relay },
  )
}

async function relay(peer: MeshPeer, down: Stream, init: ValueRelayInit): Promise<void> {
  const source = down[Symbol.asyncIterator]()
  const late = setTimeout(() => down.abort(new FrameError('no relay request in time')), RELAY_SETUP_MS)
  const { request, rest } = await firstFrame(source).finally(() => clearTimeout(late))
  const client = init.clientOf(request.poolId)
  if (client === undefined || !isPeerId(client)) throw new Error(`pool ${request.poolId} has no client here`)
  const connection = peer.getConnections(peerIdFromString(client))[0]
  if (connection === undefined) throw new Error('the pool’s client is not connected')
  const protocol = request.type === 'fetch' ? BLOB_PROTOCOL : RESULT_PROTOCOL
  const up = await connection.newStream(protocol, { signal: AbortSignal.timeout(RELAY_SETUP_MS) })
  if (request.type === 'fetch') {
    const body = encodeFrame({ type: 'fetch', hash: request.hash })
    up.send(Buffer.concat([varint.encode(body.byteLength), body]))
  }
  for (const bytes of rest) if (!up.send(bytes)) await drained(up)
  const cut = (err: unknown): void => {
    const reason = err instanceof Error ? err : new Error(String(err))
    up.abort(reason)
    down.abort(reason)
  }
  // Node → client (a pushed result's parts) and client → node (params, or the client's answer).
  void pipe({ [Symbol.asyncIterator]: () => source }, up)
    .then(() => up.close())
    .catch(cut)
  void pipe(up, down)
    .then(() => down.close())
    .catch(cut)
}

/** The node's request, read off the front of its stream, with what came after it in the same chunks. */
async function firstFrame(
  source: AsyncIterator<Uint8Array | Iterable<Uint8Array>>,
): Promise<{ request: RelayRequest; rest: Uint8Array[] }> {
  const reader = new FrameReader({
    maxBytes: MAX_REQUEST_FRAME_BYTES,
    startBytes: FRAME_START_BYTES,
    checkStart: (start, length) => checkFrameStart(start, length, inbound.relayRequest),
  })
  for (;;) {
    const next = await source.next()
    if (next.done === true) throw new FrameError('the stream ended before its relay request')
    const [frame] = reader.push(next.value as Uint8Array, 1)
    if (frame !== undefined) {
      return { request: decodeFrame<RelayRequest>(frame, inbound.relayRequest), rest: reader.rest() }
    }
  }
}

/** Sends what `from` yields into `to`, waiting whenever `to` is full. */
async function pipe(from: AsyncIterable<Uint8Array | Iterable<Uint8Array>>, to: Stream): Promise<void> {
  for await (const chunk of from) {
    if (!to.send(chunk as Uint8Array)) await drained(to)
  }
}

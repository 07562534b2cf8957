import type { PeerId, Stream } from '@libp2p/interface'
import {
  BLOB_PROTOCOL,
  type BlobReply,
  type BlobRequest,
  inbound,
  MAX_SHARED_BYTES,
  type RelayRequest,
  VALUE_PART_BYTES,
  ValueAssembly,
  valueParts,
} from '@meshpool/core'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { StreamChannel } from './channel.js'
import { serveFetches } from './fetch-server.js'
import { STREAMS_PER_CONNECTION } from './limits.js'
import type { MeshPeer } from './peer.js'
import { requestOnce } from './request.js'

/**
 * Serves the blobs `lookup` finds (big updates, shared values, a client's big params) to
 * any peer of the mesh that asks, in parts of at most `partBytes`.
 */
export async function serveBlobs(
  peer: Pick<MeshPeer, 'handle'>,
  lookup: (hash: string) => Uint8Array | undefined,
  partBytes = VALUE_PART_BYTES,
): Promise<void> {
  await serveFetches<BlobRequest, BlobReply>(peer, {
    protocol: BLOB_PROTOCOL,
    accepted: inbound.blobRequest,
    maxInboundStreams: STREAMS_PER_CONNECTION.blob,
    isFetch: (request) => request.type === 'fetch',
    open: (send, _connection, _close, whenSent) => ({
      message: (request) => {
        if (request.type !== 'fetch') return
        void sendBlob(send, whenSent, request.hash, lookup(request.hash), partBytes)
      },
    }),
  })
}

/**
 * Answers a fetch with a blob (none: this peer has none by that hash); one over `partBytes`
 * in parts, each once the last has gone out.
 */
export async function sendBlob(
  send: (reply: BlobReply) => void,
  whenSent: () => Promise<void>,
  hash: string,
  data: Uint8Array | undefined,
  partBytes = VALUE_PART_BYTES,
): Promise<void> {
  if (data === undefined || data.byteLength <= partBytes) {
    send({ type: 'blob', hash, ...(data === undefined ? {} : { data }) })
    return
  }
  for (const part of valueParts(data, partBytes)) {
    send({ type: 'blob', hash, data: part.data, offset: part.offset, total: part.total })
    await whenSent()
  }
}

/**
 * Puts a blob together from the replies of one fetch: the whole blob, or
 * undefined while parts are still to come. Throws FrameError on a part out of
 * order or too big (no blob is over what a head may hold).
 */
export class BlobReceiver {
  #assembly: ValueAssembly | undefined
  readonly #maxBytes: number

  /** `maxBytes`: the most a sender may announce. @default MAX_SHARED_BYTES */
  constructor(maxBytes = MAX_SHARED_BYTES) {
    this.#maxBytes = maxBytes
  }

  take(reply: Extract<BlobReply, { type: 'blob' }> & { data: Uint8Array }): Uint8Array | undefined {
    if (reply.total === undefined) return reply.data
    if (reply.offset === 0) this.#assembly = new ValueAssembly(reply.total, this.#maxBytes)
    if (this.#assembly === undefined) throw new Error('a part of a blob came before its first part')
    return this.#assembly.add({ data: reply.data, offset: reply.offset ?? 0, total: reply.total })
  }
}

/**
 * Fetches a blob from one peer (by its connection if there is one, else at `addrs`), of at
 * most `maxBytes` (@default MAX_SHARED_BYTES); not checked against its hash.
 */
export async function fetchFromPeer(
  peer: Pick<MeshPeer, 'dialProtocol' | 'getConnections'>,
  peerId: string,
  addrs: string[],
  hash: string,
  signal: AbortSignal,
  maxBytes?: number,
): Promise<Uint8Array> {
  const target: PeerId | Multiaddr[] = connectedPeer(peer, peerId) ?? addrs.map((a) => multiaddr(a))
  const stream = await peer.dialProtocol(target, BLOB_PROTOCOL, { signal })
  return receiveBlob(stream, { type: 'fetch', hash }, hash, signal, maxBytes)
}

/**
 * Sends `request` on a stream of its own, and puts together the blob that comes back
 * (of at most `maxBytes`, @default MAX_SHARED_BYTES); not checked against its hash.
 */
export function receiveBlob(
  stream: Stream,
  request: BlobRequest | RelayRequest,
  hash: string,
  signal: AbortSignal,
  maxBytes?: number,
): Promise<Uint8Array> {
  const receiver = new BlobReceiver(maxBytes)
  return requestOnce(new StreamChannel<BlobReply, BlobRequest | RelayRequest>(stream, inbound.blobReply), {
    request,
    answer: (reply) => {
      if (reply.hash !== hash) return undefined
      if (reply.type === 'blob' && reply.data !== undefined) return receiver.take({ ...reply, data: reply.data })
      throw new Error('it does not have the blob')
    },
    closedBefore: 'the stream closed',
    signal,
  })
}

function connectedPeer(peer: Pick<MeshPeer, 'getConnections'>, peerId: string): PeerId | undefined {
  return peer.getConnections().find((c) => c.remotePeer.toString() === peerId)?.remotePeer
}

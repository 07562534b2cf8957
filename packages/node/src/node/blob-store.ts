import type { Logger, PeerId } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import {
  BLOB_PROTOCOL,
  type BlobReply,
  type BlobRequest,
  DEFAULT_UPDATE_LOG_BYTES,
  inbound,
  MAX_SHARED_BYTES,
  VALUE_PART_BYTES,
  ValueAssembly,
  valueParts,
} from '@meshpool/core'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { StreamChannel } from '../net/channel.js'
import { codeHash } from '../net/code-hash.js'
import { serveFetches } from '../net/fetch-server.js'
import { STREAMS_PER_CONNECTION } from '../net/limits.js'
import type { MeshPeer } from '../net/peer.js'
import { requestOnce } from '../net/request.js'

const defaultLog = logger('meshpool:blobs')
/** How long one fetch of a blob may take, from the head or a peer, before it is given up. */
const BLOB_FETCH_TIMEOUT_MS = 60_000

/** Blobs (big updates) a peer holds by hash, newest kept up to a byte budget, to serve to others. */
export class BlobStore {
  readonly #blobs = new Map<string, Uint8Array>()
  readonly #budget: number
  #bytes = 0
  /** Told of each blob dropped for the budget. */
  onDrop: (hash: string) => void = () => {}

  constructor(budgetBytes = DEFAULT_UPDATE_LOG_BYTES) {
    this.#budget = budgetBytes
  }

  get(hash: string): Uint8Array | undefined {
    return this.#blobs.get(hash)
  }

  put(hash: string, data: Uint8Array): void {
    if (this.#blobs.has(hash)) return
    this.#blobs.set(hash, data)
    this.#bytes += data.byteLength
    for (const [old, value] of this.#blobs) {
      if (this.#bytes <= this.#budget || old === hash) break
      this.#blobs.delete(old)
      this.#bytes -= value.byteLength
      this.onDrop(old)
    }
  }
}

/** Serves the blobs `lookup` finds (big updates, shared values) to any peer of the mesh that asks. */
export async function serveBlobs(peer: MeshPeer, lookup: (hash: string) => Uint8Array | undefined): Promise<void> {
  await serveFetches<BlobRequest, BlobReply>(peer, {
    protocol: BLOB_PROTOCOL,
    accepted: inbound.blobRequest,
    maxInboundStreams: STREAMS_PER_CONNECTION.blob,
    isFetch: (request) => request.type === 'fetch',
    open: (send, _connection, _close, whenSent) => ({
      message: (request) => {
        if (request.type !== 'fetch') return
        void sendBlob(send, whenSent, request.hash, lookup(request.hash))
      },
    }),
  })
}

/** Answers a fetch with a blob (none: this peer has none by that hash); a big one in parts, each once the last has gone out. */
export async function sendBlob(
  send: (reply: BlobReply) => void,
  whenSent: () => Promise<void>,
  hash: string,
  data: Uint8Array | undefined,
): Promise<void> {
  if (data === undefined || data.byteLength <= VALUE_PART_BYTES) {
    send({ type: 'blob', hash, ...(data === undefined ? {} : { data }) })
    return
  }
  for (const part of valueParts(data)) {
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

  take(reply: Extract<BlobReply, { type: 'blob' }> & { data: Uint8Array }): Uint8Array | undefined {
    if (reply.total === undefined) return reply.data
    if (reply.offset === 0) this.#assembly = new ValueAssembly(reply.total, MAX_SHARED_BYTES)
    if (this.#assembly === undefined) throw new Error('a part of a blob came before its first part')
    return this.#assembly.add({ data: reply.data, offset: reply.offset ?? 0, total: reply.total })
  }
}

/**
 * Fetches a blob the head announced: the head answers with the bytes, or with
 * a node that has them (it spreads the load, see BlobSources). A node that
 * fails or lacks it is skipped: the head is asked for the bytes themselves.
 * What arrives is checked against the hash, kept in `store` to serve others,
 * and the head is told this node has it. `log`: the fetching node's.
 */
export async function fetchBlob(
  peer: MeshPeer,
  head: Multiaddr,
  hash: string,
  store: Pick<BlobStore, 'get' | 'put'>,
  log: Logger = defaultLog,
): Promise<Uint8Array> {
  const known = store.get(hash)
  if (known !== undefined) return known
  const signal = AbortSignal.timeout(BLOB_FETCH_TIMEOUT_MS)
  const stream = await peer.dialProtocol(head, BLOB_PROTOCOL, { signal })
  const channel = new StreamChannel<BlobReply, BlobRequest>(stream, inbound.blobReply)
  try {
    return await new Promise<Uint8Array>((resolve, reject) => {
      signal.addEventListener('abort', () => reject(new Error(`fetching blob ${hash.slice(0, 12)}… timed out`)))
      const got = (data: Uint8Array, from: string): void => {
        if (codeHash(data) !== hash) throw new Error(`blob ${hash.slice(0, 12)}… from ${from} arrived corrupted`)
        store.put(hash, data)
        channel.send({ type: 'have', hash })
        log('fetched blob %s (%d bytes) from %s', hash.slice(0, 12), data.byteLength, from)
        resolve(data)
      }
      const fromHead = new BlobReceiver()
      channel.start({
        message: (reply) => {
          if (reply.hash !== hash) return
          if (reply.type === 'blob') {
            if (reply.data === undefined) reject(new Error(`the head no longer holds blob ${hash.slice(0, 12)}…`))
            else {
              try {
                const data = fromHead.take({ ...reply, data: reply.data })
                if (data !== undefined) got(data, 'the head')
              } catch (err) {
                reject(err)
              }
            }
            return
          }
          const [source] = reply.peers
          if (source === undefined) {
            channel.send({ type: 'fetch', hash, direct: true })
            return
          }
          fetchFromPeer(peer, source.peerId, source.addrs, hash, signal)
            .then((data) => got(data, `node ${source.peerId}`))
            .catch((err: Error) => {
              log('blob %s from %s failed (%s): asking the head', hash.slice(0, 12), source.peerId, err.message)
              channel.send({ type: 'fetch', hash, direct: true })
            })
        },
        close: (reason) => reject(reason ?? new Error('the head closed the blob stream')),
      })
      channel.send({ type: 'fetch', hash })
    })
  } finally {
    channel.close() // after the 'have' has gone out
  }
}

async function fetchFromPeer(
  peer: MeshPeer,
  peerId: string,
  addrs: string[],
  hash: string,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const target: PeerId | Multiaddr[] = connectedPeer(peer, peerId) ?? addrs.map((a) => multiaddr(a))
  const stream = await peer.dialProtocol(target, BLOB_PROTOCOL, { signal })
  const receiver = new BlobReceiver()
  return requestOnce(new StreamChannel<BlobReply, BlobRequest>(stream, inbound.blobReply), {
    request: { type: 'fetch', hash },
    answer: (reply) => {
      if (reply.hash !== hash) return undefined
      if (reply.type === 'blob' && reply.data !== undefined) return receiver.take({ ...reply, data: reply.data })
      throw new Error('it does not have the blob')
    },
    closedBefore: 'the stream closed',
  })
}

function connectedPeer(peer: MeshPeer, peerId: string): PeerId | undefined {
  return peer.getConnections().find((c) => c.remotePeer.toString() === peerId)?.remotePeer
}

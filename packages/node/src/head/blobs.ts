import {
  BLOB_PROTOCOL,
  type BlobReply,
  type BlobRequest,
  BlobSources,
  FrameError,
  inbound,
  type PeerInfo,
} from '@meshpool/core'
import { StreamChannel } from '../net/channel.js'
import { codeHash } from '../net/code-hash.js'
import { MAX_REQUEST_FRAME_BYTES, STREAMS_PER_CONNECTION } from '../net/limits.js'
import type { MeshPeer } from '../net/peer.js'
import { BlobStore } from '../node/blob-store.js'

/**
 * The head's side of big updates: it keeps their bytes by hash and answers
 * each node's fetch with the bytes or with a node that already has them
 * ({@link BlobSources} decides), so a 20 MiB update leaves the head a few
 * times, not once per node.
 */
export class HeadBlobs {
  readonly #store: BlobStore
  readonly #sources = new BlobSources()
  readonly #whereIs: (peerId: string) => PeerInfo | undefined

  constructor(budgetBytes: number, whereIs: (peerId: string) => PeerInfo | undefined) {
    this.#store = new BlobStore(budgetBytes)
    this.#store.onDrop = (hash) => this.#sources.remove(hash)
    this.#whereIs = whereIs
  }

  /** Keeps a blob to serve; returns its hash. */
  add(data: Uint8Array): string {
    const hash = codeHash(data)
    this.#store.put(hash, data)
    this.#sources.add(hash)
    return hash
  }

  /** A node left: it serves nothing now, and its fetches are over. */
  gone(peerId: string): void {
    this.#sources.gone(peerId)
  }

  async serve(peer: MeshPeer): Promise<void> {
    await peer.handle(
      BLOB_PROTOCOL,
      (stream, connection) => {
        const requester = connection.remotePeer.toString()
        const channel = new StreamChannel<BlobRequest, BlobReply>(stream, inbound.blobRequest, {
          maxInFrameBytes: MAX_REQUEST_FRAME_BYTES,
        })
        const asked = new Set<string>()
        channel.start({
          message: (request) => {
            const { hash } = request
            if (request.type === 'have') {
              if (asked.has(hash)) this.#sources.done(hash, requester, true)
              return
            }
            // One blob per stream at a time: a peer that asks for more before reading is cut off.
            if (asked.size >= 1 && !asked.has(hash)) return channel.close(new FrameError('one blob per fetch stream'))
            if (channel.queuedBytes > 0)
              return channel.close(new FrameError('a second fetch before the first was read'))
            asked.add(hash)
            this.#sources.request(hash, requester, request.direct === true, (source) => {
              const where = source === 'head' ? undefined : this.#whereIs(source.peer)
              if (where !== undefined) {
                channel.send({ type: 'elsewhere', hash, peers: [where] })
                return
              }
              const data = this.#store.get(hash)
              channel.send({ type: 'blob', hash, ...(data === undefined ? {} : { data }) })
            })
          },
          close: () => {
            for (const hash of asked) this.#sources.done(hash, requester, false)
          },
        })
      },
      { maxInboundStreams: STREAMS_PER_CONNECTION.blob },
    )
  }
}

import {
  BLOB_PROTOCOL,
  type BlobReply,
  type BlobRequest,
  BlobSources,
  FrameError,
  inbound,
  type PeerInfo,
} from '@meshpool/core'
import { sendBlob } from '../net/blob-transfer.js'
import { codeHash } from '../net/code-hash.js'
import { type FetchStream, serveFetches } from '../net/fetch-server.js'
import { STREAMS_PER_CONNECTION } from '../net/limits.js'
import type { MeshPeer } from '../net/peer.js'
import { BlobStore } from '../node/blob-store.js'

/**
 * The head's side of big updates and shared values: it keeps their bytes by hash and answers
 * each node's fetch with the bytes or with a node that already has them
 * ({@link BlobSources} decides), so a 20 MiB update leaves the head a few
 * times, not once per node.
 */
export class HeadBlobs {
  readonly #store: BlobStore
  readonly #sources = new BlobSources()
  /** Shared values by hash, outside the store's budget. */
  readonly #pinned = new Map<string, Uint8Array>()
  readonly #whereIs: (peerId: string) => PeerInfo | undefined

  constructor(budgetBytes: number, whereIs: (peerId: string) => PeerInfo | undefined) {
    this.#store = new BlobStore(budgetBytes)
    this.#store.onDrop = (hash) => {
      if (!this.#pinned.has(hash)) this.#sources.remove(hash)
    }
    this.#whereIs = whereIs
  }

  /** Keeps a blob to serve; returns its hash. */
  add(data: Uint8Array): string {
    const hash = codeHash(data)
    this.#store.put(hash, data)
    this.#sources.add(hash)
    return hash
  }

  /** Serves a shared value (pool.share) until it is unpinned: kept whatever the budget. */
  pin(hash: string, data: Uint8Array): void {
    if (this.#pinned.has(hash)) return
    this.#pinned.set(hash, data)
    this.#sources.add(hash)
  }

  /** A shared value is gone: nodes that ask for it now hear the head has none. */
  unpin(hash: string): void {
    if (!this.#pinned.delete(hash)) return
    if (this.#store.get(hash) === undefined) this.#sources.remove(hash)
  }

  /** A node left: it serves nothing now, and its fetches are over. */
  gone(peerId: string): void {
    this.#sources.gone(peerId)
  }

  /** Answers nodes' fetches of blobs: the bytes, or a node that has them. One blob per stream. */
  async serve(peer: MeshPeer): Promise<void> {
    await serveFetches<BlobRequest, BlobReply>(peer, {
      protocol: BLOB_PROTOCOL,
      accepted: inbound.blobRequest,
      maxInboundStreams: STREAMS_PER_CONNECTION.blob,
      isFetch: (request) => request.type === 'fetch',
      open: (send, connection, close, whenSent) =>
        this.#serveStream(send, connection.remotePeer.toString(), close, whenSent),
    })
  }

  /** One stream's fetch: a blob (or where to find it), and the requester's word that it has it now. */
  #serveStream(
    send: (reply: BlobReply) => void,
    requester: string,
    close: (err: Error) => void,
    whenSent: () => Promise<void>,
  ): FetchStream<BlobRequest> {
    const asked = new Set<string>()
    return {
      message: (request) => {
        const { hash } = request
        if (request.type === 'have') {
          if (asked.has(hash)) this.#sources.done(hash, requester, true)
          return
        }
        // One blob per stream: a peer that asks for another on it is cut off.
        if (asked.size >= 1 && !asked.has(hash)) return close(new FrameError('one blob per fetch stream'))
        asked.add(hash)
        this.#sources.request(hash, requester, request.direct === true, (source) => {
          const where = source === 'head' ? undefined : this.#whereIs(source.peer)
          if (where !== undefined) {
            send({ type: 'elsewhere', hash, peers: [where] })
            return
          }
          void sendBlob(send, whenSent, hash, this.#pinned.get(hash) ?? this.#store.get(hash))
        })
      },
      close: () => {
        for (const hash of asked) this.#sources.done(hash, requester, false)
      },
    }
  }
}

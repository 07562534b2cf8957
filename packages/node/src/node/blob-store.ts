import type { Logger } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { BLOB_PROTOCOL, type BlobReply, type BlobRequest, DEFAULT_UPDATE_LOG_BYTES, inbound } from '@meshpool/core'
import type { Multiaddr } from '@multiformats/multiaddr'
import { BlobReceiver, fetchFromPeer } from '../net/blob-transfer.js'
import { StreamChannel } from '../net/channel.js'
import { codeHash } from '../net/code-hash.js'
import type { MeshPeer } from '../net/peer.js'

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

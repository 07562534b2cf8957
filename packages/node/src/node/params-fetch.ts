import type { Logger, PeerId } from '@libp2p/interface'
import {
  type BlobReply,
  inbound,
  MAX_PARAMS_BLOB_BYTES,
  type ParamsBlob,
  type PeerInfo,
  RELAY_PROTOCOL,
  type RelayRequest,
} from '@meshpool/core'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { BlobReceiver, fetchFromPeer } from '../net/blob-transfer.js'
import { StreamChannel } from '../net/channel.js'
import { codeHash } from '../net/code-hash.js'
import type { MeshPeer } from '../net/peer.js'
import { requestOnce } from '../net/request.js'

/** Where a node gets a job's big params: checked against the hash and size. */
export type FetchParams = (
  blob: ParamsBlob,
  poolId: number,
  client: PeerInfo | undefined,
  signal: AbortSignal,
) => Promise<Uint8Array>

/** A node of this version always can; this is for agents made without a network (tests). */
export const noParamsSource: FetchParams = async (blob) => {
  throw new Error(`no source of params ${blob.hash.slice(0, 12)}…`)
}

/** How long a dial of a pool's client may take before the node goes through the head. */
const CLIENT_DIAL_TIMEOUT_MS = 3000
/** A client that could not be dialed is not tried again for this long. */
const UNREACHABLE_MS = 30_000
/** A fetch may take this long, plus the time for its bytes at 8 MiB/s. */
const FETCH_BASE_MS = 60_000
const FETCH_BYTES_PER_MS = 8 * 1024

/**
 * Fetches the params a job left with its client (see ParamsBlob): straight
 * from the client where it listens and this node can dial it, else through
 * the head, which pipes them from the client's connection. Bytes that don't
 * match the hash are refused, and fetched again through the head.
 */
export class ParamsFetcher {
  readonly #peer: Pick<MeshPeer, 'dial' | 'dialProtocol' | 'getConnections'>
  readonly #head: () => Multiaddr | PeerId
  readonly #log: Logger
  /** Clients this node could not dial, until when. */
  readonly #unreachable = new Map<string, number>()

  constructor(
    peer: Pick<MeshPeer, 'dial' | 'dialProtocol' | 'getConnections'>,
    head: () => Multiaddr | PeerId,
    log: Logger,
  ) {
    this.#peer = peer
    this.#head = head
    this.#log = log
  }

  readonly fetch: FetchParams = async (blob, poolId, client, outer) => {
    const signal = AbortSignal.any([
      outer,
      AbortSignal.timeout(FETCH_BASE_MS + Math.ceil(blob.bytes / FETCH_BYTES_PER_MS)),
    ])
    const started = performance.now()
    const took = (from: string): void =>
      this.#log(
        'fetched params %s (%d bytes) from %s in %d ms',
        blob.hash.slice(0, 12),
        blob.bytes,
        from,
        Math.round(performance.now() - started),
      )
    if (client !== undefined && (this.#unreachable.get(client.peerId) ?? 0) < Date.now()) {
      try {
        const data = await this.#direct(blob, client, signal)
        if (matches(data, blob)) {
          took('the client')
          return data
        }
        this.#log('params %s from the client came altered: fetching them through the head', blob.hash.slice(0, 12))
      } catch (err) {
        if (outer.aborted) throw err
        this.#unreachable.set(client.peerId, Date.now() + UNREACHABLE_MS)
        this.#log(
          'the client %s is out of reach (%s): fetching through the head',
          client.peerId,
          (err as Error).message,
        )
      }
    }
    const data = await this.#relayed(blob, poolId, signal)
    if (!matches(data, blob)) throw new Error(`the params ${blob.hash.slice(0, 12)}… came altered through the head`)
    took('the head')
    return data
  }

  async #direct(blob: ParamsBlob, client: PeerInfo, signal: AbortSignal): Promise<Uint8Array> {
    if (!this.#peer.getConnections().some((c) => c.remotePeer.toString() === client.peerId)) {
      const dial = AbortSignal.any([signal, AbortSignal.timeout(CLIENT_DIAL_TIMEOUT_MS)])
      await this.#peer.dial(
        client.addrs.map((a) => multiaddr(a)),
        { signal: dial },
      )
    }
    return fetchFromPeer(this.#peer, client.peerId, client.addrs, blob.hash, signal, MAX_PARAMS_BLOB_BYTES)
  }

  async #relayed(blob: ParamsBlob, poolId: number, signal: AbortSignal): Promise<Uint8Array> {
    const stream = await this.#peer.dialProtocol(this.#head(), RELAY_PROTOCOL, { signal })
    const receiver = new BlobReceiver(MAX_PARAMS_BLOB_BYTES)
    const channel = new StreamChannel<BlobReply, RelayRequest>(stream, inbound.blobReply)
    return requestOnce(channel, {
      request: { type: 'fetch', hash: blob.hash, poolId },
      answer: (reply) => {
        if (reply.hash !== blob.hash) return undefined
        if (reply.type === 'blob' && reply.data !== undefined) return receiver.take({ ...reply, data: reply.data })
        throw new Error('the client no longer holds them')
      },
      closedBefore: 'the head closed the relay',
      signal,
    })
  }
}

function matches(data: Uint8Array, blob: ParamsBlob): boolean {
  return data.byteLength === blob.bytes && codeHash(data) === blob.hash
}

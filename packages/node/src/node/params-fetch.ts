import { BLOB_PROTOCOL, type BlobRef, MAX_BLOB_VALUE_BYTES, type PeerInfo } from '@meshpool/core'
import { receiveBlob } from '../net/blob-transfer.js'
import { codeHash } from '../net/code-hash.js'
import type { ClientRoutes } from './client-routes.js'

/** Where a node gets a job's big params: checked against the hash and size. */
export type FetchParams = (
  blob: BlobRef,
  poolId: number,
  client: PeerInfo | undefined,
  signal: AbortSignal,
) => Promise<Uint8Array>

/** For agents made without a network (tests): no params to be had. */
export const noParamsSource: FetchParams = async (blob) => {
  throw new Error(`no source of params ${blob.hash.slice(0, 12)}…`)
}

/** A fetch may take this long, plus the time for its bytes at 8 MiB/s. */
const FETCH_BASE_MS = 60_000
const FETCH_BYTES_PER_MS = 8 * 1024

/**
 * Fetches the params a job left with its client (see BlobRef): straight from
 * the client where this node can reach it, else through the head, which pipes
 * them from the client's connection. Bytes that don't match the hash are
 * refused, and fetched again through the head.
 */
export function paramsFetcher(routes: ClientRoutes): FetchParams {
  return async (blob, poolId, client, outer) => {
    const signal = AbortSignal.any([
      outer,
      AbortSignal.timeout(FETCH_BASE_MS + Math.ceil(blob.bytes / FETCH_BYTES_PER_MS)),
    ])
    const started = performance.now()
    const took = (from: string): void =>
      routes.log(
        'fetched params %s (%d bytes) from %s in %d ms',
        blob.hash.slice(0, 12),
        blob.bytes,
        from,
        Math.round(performance.now() - started),
      )
    const stream = await routes.direct(client, BLOB_PROTOCOL, signal)
    if (stream !== undefined) {
      try {
        const data = await receiveBlob(
          stream,
          { type: 'fetch', hash: blob.hash },
          blob.hash,
          signal,
          MAX_BLOB_VALUE_BYTES,
        )
        if (matches(data, blob)) {
          took('the client')
          return data
        }
        routes.log('params %s from the client came altered: fetching them through the head', blob.hash.slice(0, 12))
      } catch (err) {
        if (outer.aborted) throw err
        routes.log(
          'params %s from the client failed (%s): fetching them through the head',
          blob.hash.slice(0, 12),
          (err as Error).message,
        )
      }
    }
    const relayed = await routes.relayed(signal)
    const request = { type: 'fetch', hash: blob.hash, poolId } as const
    const data = await receiveBlob(relayed, request, blob.hash, signal, MAX_BLOB_VALUE_BYTES)
    if (!matches(data, blob)) throw new Error(`the params ${blob.hash.slice(0, 12)}… came altered through the head`)
    took('the head')
    return data
  }
}

function matches(data: Uint8Array, blob: BlobRef): boolean {
  return data.byteLength === blob.bytes && codeHash(data) === blob.hash
}

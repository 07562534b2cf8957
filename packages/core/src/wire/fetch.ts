import {
  bool,
  bytes,
  type Check,
  type FrameLimits,
  hash,
  list,
  message,
  optional,
  peerInfo,
  str,
  uint,
} from './checks.js'
import { MEDIUM_FRAME_BYTES, SMALL_FRAME_BYTES } from './limits.js'
import type { PeerInfo } from './work.js'

/** Nodes fetch shipped worker code from the head by its hash. */
export const CODE_PROTOCOL = '/meshpool/code/1.0.0'
/** Every peer serves the big updates it holds, by hash: nodes fetch them from the head or from each other. */
export const BLOB_PROTOCOL = '/meshpool/blob/1.0.0'

/**
 * A node that can't reach a pool's client fetches a job's big params (see BlobRef)
 * through the head: it asks once, and the head pipes the client's blob replies through
 * undecoded.
 */
export const RELAY_PROTOCOL = '/meshpool/relay/1.0.0'

/**
 * Node → head on {@link RELAY_PROTOCOL}, the stream's first frame. `fetch`: the answer is
 * the client's {@link BlobReply} frames. `push`: the node's {@link ResultPart} frames that
 * follow go to the client, and its {@link ResultAck} comes back.
 */
export type RelayRequest = { type: 'fetch'; hash: string; poolId: number } | { type: 'push'; poolId: number }

/** A node hands a job's big result (see BlobRef) to the pool's client, before it reports the job done. */
export const RESULT_PROTOCOL = '/meshpool/result/1.0.0'
/** Node → client on {@link RESULT_PROTOCOL}: the result's bytes; one over VALUE_PART_BYTES in parts, in order. */
export type ResultPart = { type: 'result'; hash: string; data: Uint8Array; offset?: number; total?: number }
/** Client → node on {@link RESULT_PROTOCOL}: it holds the result now, or won't take it, and why. */
export type ResultAck = { type: 'got'; hash: string } | { type: 'refused'; hash: string; message: string }

/** Node → head on {@link CODE_PROTOCOL}. */
export type CodeRequest = { type: 'fetch'; hash: string }
/** Head → node on {@link CODE_PROTOCOL}: the module, or no `code` if the head has none by that hash. */
export type CodeReply = { type: 'code'; hash: string; code?: Uint8Array }

/**
 * Either side of {@link BLOB_PROTOCOL}. A node asks the head (or a peer) for a blob
 * by hash; `have` tells the head it now holds it, so others may fetch it there.
 * `direct` asks the head for the bytes itself after the peers it named failed.
 */
export type BlobRequest = { type: 'fetch'; hash: string; direct?: boolean } | { type: 'have'; hash: string }
/**
 * The bytes (none if this peer has no blob by that hash), or peers that have them.
 * A blob over VALUE_PART_BYTES comes in parts, in order: `data` at `offset` of `total` bytes.
 */
export type BlobReply =
  | { type: 'blob'; hash: string; data?: Uint8Array; offset?: number; total?: number }
  | { type: 'elsewhere'; hash: string; peers: PeerInfo[] }

export const codeRequests: Record<CodeRequest['type'], Check> = { fetch: message({ hash }) }
export const codeRequestLimits: FrameLimits<CodeRequest['type']> = { fetch: SMALL_FRAME_BYTES }
export const codeReplies: Record<CodeReply['type'], Check> = { code: message({ hash, code: optional(bytes) }) }

export const relayRequests: Record<RelayRequest['type'], Check> = {
  fetch: message({ hash, poolId: uint }),
  push: message({ poolId: uint }),
}
export const relayRequestLimits: FrameLimits<RelayRequest['type']> = {
  fetch: SMALL_FRAME_BYTES,
  push: SMALL_FRAME_BYTES,
}
export const resultParts: Record<ResultPart['type'], Check> = {
  result: message({ hash, data: bytes, offset: optional(uint), total: optional(uint) }),
}
export const resultAcks: Record<ResultAck['type'], Check> = {
  got: message({ hash }),
  refused: message({ hash, message: str }),
}
export const resultAckLimits: FrameLimits<ResultAck['type']> = { got: SMALL_FRAME_BYTES, refused: SMALL_FRAME_BYTES }

export const blobRequests: Record<BlobRequest['type'], Check> = {
  fetch: message({ hash, direct: optional(bool) }),
  have: message({ hash }),
}
export const blobRequestLimits: FrameLimits<BlobRequest['type']> = { fetch: SMALL_FRAME_BYTES, have: SMALL_FRAME_BYTES }
export const blobReplies: Record<BlobReply['type'], Check> = {
  blob: message({ hash, data: optional(bytes), offset: optional(uint), total: optional(uint) }),
  elsewhere: message({ hash, peers: list(peerInfo) }),
}
export const blobReplyLimits: FrameLimits<BlobReply['type']> = { elsewhere: MEDIUM_FRAME_BYTES }

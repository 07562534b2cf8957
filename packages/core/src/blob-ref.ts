import { decodeValue, encodeValue } from './values.js'
import { MAX_FRAME_BYTES } from './wire/limits.js'

/**
 * Encoded params and results of this many bytes or more don't travel inside job
 * frames: the job (or its outcome) carries a {@link BlobRef}, and the bytes go
 * between the client and the node that runs the job, straight or through the head.
 */
export const BIG_VALUE_BYTES = 1024 * 1024

/**
 * Big params and results go between client and node in frames of at most this many
 * bytes (MAX_FRAME_BYTES less room for the frame's fields): fewer parts to put together.
 */
export const BLOB_VALUE_PART_BYTES = MAX_FRAME_BYTES - 64 * 1024

/** The most bytes one job's encoded params, or its encoded result, may have (2 GiB). */
export const MAX_BLOB_VALUE_BYTES = 2 * 1024 * 1024 * 1024

/** A value that travels beside its frame: `bytes` bytes whose sha-256 (hex) is `hash`. */
export interface BlobRef {
  hash: string
  bytes: number
}

/**
 * A reference starts with CBOR tag 40818 (0xd9 0x9f 0x72), then `[hash, bytes]`.
 * No value a user passes encodes so: meshpool's codec writes that tag for nothing else.
 */
const PREFIX = Uint8Array.of(0xd9, 0x9f, 0x72)
/** A reference is a few dozen bytes: anything longer is a user's value. */
const MAX_REF_BYTES = 128

/** The bytes a job's params (or a result) are in a frame when the value itself travels beside it. */
export function encodeBlobRef(ref: BlobRef): Uint8Array {
  const body = encodeValue([ref.hash, ref.bytes])
  const out = new Uint8Array(PREFIX.byteLength + body.byteLength)
  out.set(PREFIX)
  out.set(body, PREFIX.byteLength)
  return out
}

/**
 * The reference these encoded params or results are, if they are one. A member
 * wrote them: undefined unless the hash and size are well formed.
 */
export function decodeBlobRef(encoded: Uint8Array): BlobRef | undefined {
  if (encoded.byteLength > MAX_REF_BYTES || encoded.byteLength <= PREFIX.byteLength) return undefined
  if (encoded[0] !== PREFIX[0] || encoded[1] !== PREFIX[1] || encoded[2] !== PREFIX[2]) return undefined
  let body: unknown
  try {
    body = decodeValue(encoded.subarray(PREFIX.byteLength))
  } catch {
    return undefined
  }
  if (!Array.isArray(body) || body.length !== 2) return undefined
  const [hash, bytes] = body as [unknown, unknown]
  if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) return undefined
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0 || bytes > MAX_BLOB_VALUE_BYTES) {
    return undefined
  }
  return { hash, bytes }
}

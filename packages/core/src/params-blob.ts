import { decodeValue, encodeValue } from './values.js'

/**
 * Encoded params of this many bytes or more don't travel inside job frames:
 * the client keeps them and the job carries a {@link ParamsBlob} reference; the
 * node that runs the job fetches the bytes from the client (or through the head).
 */
export const BIG_PARAMS_BYTES = 1024 * 1024

/** The most bytes one job's encoded params may have (2 GiB), as a blob. */
export const MAX_PARAMS_BLOB_BYTES = 2 * 1024 * 1024 * 1024

/** A job's params that stayed with its client: fetch `bytes` bytes whose sha-256 (hex) is `hash`. */
export interface ParamsBlob {
  hash: string
  bytes: number
}

/**
 * Params that are a reference start with CBOR tag 40818 (0xd9 0x9f 0x72), then
 * `[hash, bytes]`. No value a user passes encodes so: meshpool's codec writes
 * that tag for nothing else.
 */
const PREFIX = Uint8Array.of(0xd9, 0x9f, 0x72)
/** A reference is a few dozen bytes: anything longer is a user's value. */
const MAX_REF_BYTES = 128

/** The params a job carries in place of big ones. */
export function paramsBlobParams(blob: ParamsBlob): Uint8Array {
  const body = encodeValue([blob.hash, blob.bytes])
  const out = new Uint8Array(PREFIX.byteLength + body.byteLength)
  out.set(PREFIX)
  out.set(body, PREFIX.byteLength)
  return out
}

/**
 * The reference these params are, if they are one. A member wrote them:
 * undefined unless the hash and size are well formed.
 */
export function paramsBlobOf(params: Uint8Array): ParamsBlob | undefined {
  if (params.byteLength > MAX_REF_BYTES || params.byteLength <= PREFIX.byteLength) return undefined
  if (params[0] !== PREFIX[0] || params[1] !== PREFIX[1] || params[2] !== PREFIX[2]) return undefined
  let body: unknown
  try {
    body = decodeValue(params.subarray(PREFIX.byteLength))
  } catch {
    return undefined
  }
  if (!Array.isArray(body) || body.length !== 2) return undefined
  const [hash, bytes] = body as [unknown, unknown]
  if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) return undefined
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0 || bytes > MAX_PARAMS_BLOB_BYTES) {
    return undefined
  }
  return { hash, bytes }
}

import { Encoder } from 'cbor-x'
import { scanCbor } from '../cbor-scan.js'
import { FrameError } from '../errors.js'
import type { Check } from './checks.js'
import { frameLimit } from './inbound.js'
import { FRAME_BUDGET, MAX_FRAME_BYTES } from './limits.js'

const frames = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false })

/** Encodes a message to a frame body. Throws {@link FrameError} past `maxBytes`. */
export function encodeFrame(message: object, maxBytes = MAX_FRAME_BYTES): Uint8Array {
  // The type first, so that a receiver can check a frame from its first bytes (checkFrameStart).
  const typed =
    typeof message === 'object' && message !== null && 'type' in message && Object.keys(message)[0] !== 'type'
      ? Object.assign({ type: message.type }, message)
      : message
  const bytes = frames.encode(typed) as Uint8Array
  if (bytes.byteLength > maxBytes) {
    throw new FrameError(
      `a frame of ${bytes.byteLength} bytes is over the limit of ${maxBytes} bytes; send smaller values`,
    )
  }
  return bytes
}

/** A byte string field this big is not copied into its frame: see {@link encodeFramePieces}. */
const PIECE_FIELD_BYTES = 1024 * 1024

/**
 * Encodes a message to a frame body in pieces that, joined, are what
 * {@link encodeFrame} gives; a top-level byte string of 1 MiB or more (a blob's
 * `data`, a shared `value`) is its own piece, the caller's bytes themselves, not
 * copied into the frame. Throws {@link FrameError} past `maxBytes`.
 */
export function encodeFramePieces(message: object, maxBytes = MAX_FRAME_BYTES): Uint8Array[] {
  const entries = Object.entries(message)
  const at = entries.findIndex(
    ([key, v]) => key !== 'type' && v instanceof Uint8Array && v.byteLength >= PIECE_FIELD_BYTES,
  )
  if (at < 0) return [encodeFrame(message, maxBytes)]
  const [key, big] = entries[at] as [string, Uint8Array]
  const rest = encodeFrame(Object.fromEntries(entries.filter((_, i) => i !== at)), maxBytes)
  // cbor-x writes an object as a map with a two-byte count (0xb9): one more entry follows.
  const count = rest[0] === 0xb9 ? ((rest[1] as number) << 8) | (rest[2] as number) : -1
  if (count < 0 || count >= 0xffff) return [encodeFrame(message, maxBytes)]
  const keyBytes = frames.encode(key) as Uint8Array
  const length = big.byteLength
  const stringHeader =
    length < 2 ** 32
      ? Uint8Array.of(0x5a, length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff)
      : Uint8Array.of(0x5b, ...new Uint8Array(new BigUint64Array([BigInt(length)]).buffer).reverse())
  const head = new Uint8Array(rest.byteLength + keyBytes.byteLength + stringHeader.byteLength)
  head.set(rest)
  head[1] = (count + 1) >> 8
  head[2] = (count + 1) & 0xff
  head.set(keyBytes, rest.byteLength)
  head.set(stringHeader, rest.byteLength + keyBytes.byteLength)
  if (head.byteLength + length > maxBytes) {
    throw new FrameError(
      `a frame of ${head.byteLength + length} bytes is over the limit of ${maxBytes} bytes; send smaller values`,
    )
  }
  return [head, big]
}

/** How many first bytes of a frame {@link checkFrameStart} needs (fewer when the frame is shorter). */
export const FRAME_START_BYTES = 64

/**
 * Checks a frame from its first bytes and its announced length, before the
 * rest arrives: it must be a map whose first field is its `type` (as
 * {@link encodeFrame} writes every frame), of a type this side accepts, and
 * no longer than that type's limit. So a peer can't make this side buffer
 * 256 MiB of something no message is. Throws {@link FrameError}.
 */
export function checkFrameStart(start: Uint8Array, length: number, accepted: Record<string, Check>): void {
  const type = typeAtStart(start)
  if (type === undefined) throw new FrameError('a frame must be a map whose first field is its type')
  if (!Object.hasOwn(accepted, type)) throw new FrameError(`unknown message type ${JSON.stringify(type)}`)
  const limit = frameLimit(accepted, type) ?? MAX_FRAME_BYTES
  if (length > limit) throw new FrameError(`a ${type} frame of ${length} bytes is over its limit of ${limit} bytes`)
}

/** The text of `{ type: "…", …}` at the start of a CBOR frame, if it starts so. */
function typeAtStart(bytes: Uint8Array): string | undefined {
  let at = 0
  const head = bytes[at++]
  if (head === undefined || head >> 5 !== 5 || head === 0xa0) return undefined
  const info = head & 0x1f
  if (info >= 24 && info <= 27) at += 1 << (info - 24)
  else if (info > 27 && info !== 31) return undefined
  const key = [0x64, 0x74, 0x79, 0x70, 0x65] // text(4) "type"
  for (const byte of key) if (bytes[at++] !== byte) return undefined
  const text = bytes[at++]
  if (text === undefined || text >> 5 !== 3) return undefined
  let length = text & 0x1f
  if (length === 24) length = bytes[at++] ?? 255
  else if (length > 24) return undefined
  if (at + length > bytes.length) return undefined
  return new TextDecoder().decode(bytes.subarray(at, at + length))
}

/**
 * Decodes and validates a frame against the messages one side may receive.
 * Anything else (garbage, a wrong type, a missing field) is a {@link FrameError}.
 */
export function decodeFrame<T extends { type: string }>(
  frame: Uint8Array,
  accepted: Record<string, Check>,
  maxBytes = MAX_FRAME_BYTES,
): T {
  if (frame.byteLength > maxBytes) {
    throw new FrameError(`a frame of ${frame.byteLength} bytes is over the limit of ${maxBytes} bytes`)
  }
  const { type: scanned } = scanCbor(frame, FRAME_BUDGET)
  const limit = scanned === undefined ? undefined : frameLimit(accepted, scanned)
  if (limit !== undefined && frame.byteLength > limit) {
    throw new FrameError(`a ${scanned} frame of ${frame.byteLength} bytes is over its limit of ${limit} bytes`)
  }
  let message: unknown
  try {
    message = frames.decode(frame)
  } catch (err) {
    throw new FrameError(`a frame is not valid CBOR: ${(err as Error).message}`)
  }
  const type = (message as { type?: unknown } | null)?.type
  if (typeof message !== 'object' || message === null || typeof type !== 'string' || type.length > 64) {
    throw new FrameError('malformed frame: a frame is an object with a `type`')
  }
  const check = Object.hasOwn(accepted, type) ? accepted[type] : undefined
  if (check === undefined) throw new FrameError(`unknown message type ${JSON.stringify(type)}`)
  check(message, type)
  return message as T
}

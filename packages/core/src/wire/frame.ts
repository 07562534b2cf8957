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

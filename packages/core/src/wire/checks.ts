import { FrameError } from '../errors.js'
import { MAX_BATCH_ITEMS, MAX_SLOTS_PER_NODE } from './limits.js'

/**
 * The checks that every message of every protocol is built from: each one
 * throws a FrameError that names the field and what it should be, before a
 * handler sees the message (see decodeFrame).
 */
export type Check = (v: unknown, at: string) => void

/**
 * The largest frame of each message type one side takes, checked before it is
 * decoded (a status request is a few bytes, not 256 MiB). Types not listed
 * carry values (params, results, updates, code, blobs): MAX_FRAME_BYTES.
 */
export type FrameLimits<T extends string> = Partial<Record<T, number>>

const fail = (at: string, want: string): never => {
  throw new FrameError(`malformed frame: ${at} should be ${want}`)
}
export const str: Check = (v, at) => {
  if (typeof v !== 'string' || v.length > 4096) fail(at, 'a string of at most 4096 characters')
}
export const uint: Check = (v, at) => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(at, 'a non-negative integer')
}
export const bytes: Check = (v, at) => {
  if (!(v instanceof Uint8Array)) fail(at, 'bytes')
}
export const fraction: Check = (v, at) => {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) fail(at, 'a number from 0 to 1')
}
export const hash: Check = (v, at) => {
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) fail(at, 'a sha-256 in hex')
}
export const bool: Check = (v, at) => {
  if (typeof v !== 'boolean') fail(at, 'a boolean')
}
export const optional =
  (check: Check): Check =>
  (v, at) => {
    if (v !== undefined) check(v, at)
  }
/** An object with these fields and no others (an unknown field is refused: a frame says only what its type has). */
export const shape = (fields: Record<string, Check>): Check => {
  const known = new Set(Object.keys(fields))
  return (v, at) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) fail(at, 'an object')
    const o = v as Record<string, unknown>
    for (const key of Object.keys(o)) if (!known.has(key)) fail(`${at}.${key}`, 'absent (no such field)')
    for (const [key, check] of Object.entries(fields)) check(o[key], `${at}.${key}`)
  }
}
/** A message: its `type` (checked by decodeFrame) and these fields. */
export const message = (fields: Record<string, Check>): Check => shape({ type: str, ...fields })
export const list =
  (item: Check, max: number = MAX_BATCH_ITEMS): Check =>
  (v, at) => {
    if (!Array.isArray(v) || v.length > max) fail(at, `a list of at most ${max} items`)
    const items = v as unknown[]
    for (let i = 0; i < items.length; i++) item(items[i], `${at}[${i}]`)
  }
export const ids = list(uint)

/** A node's slot count: at least what a machine can have, and no more (it bounds what the node may hold). */
export const slotCount: Check = (v, at) => {
  uint(v, at)
  if ((v as number) > MAX_SLOTS_PER_NODE) fail(at, `at most ${MAX_SLOTS_PER_NODE} slots`)
}
export const errorShapeCheck = shape({
  name: str,
  message: (v, at) => typeof v === 'string' || fail(at, 'a string'),
  stack: optional((v, at) => typeof v === 'string' || fail(at, 'a string')),
})
/** A job's outcome, as a node reports it (by `jobId`) or the head passes it on to a client (by `id`). */
export const outcome = (idField: 'jobId' | 'id', extra: Record<string, Check>): Check => {
  const ok = shape({ [idField]: uint, ...extra, ok: bool, value: bytes })
  const notOk = shape({
    [idField]: uint,
    ...extra,
    ok: bool,
    error: errorShapeCheck,
    lost: optional(bool),
    where: optional(str),
  })
  return (v, at) => {
    if (typeof v !== 'object' || v === null) fail(at, 'an object')
    ;((v as { ok?: unknown }).ok === true ? ok : notOk)(v, at)
  }
}
export const addrList: Check = (v, at) => {
  list(str)(v, at)
  if ((v as unknown[]).length > 32) fail(at, 'at most 32 addresses')
}
export const peerInfo = shape({ peerId: str, addrs: addrList })
export const gpuSummary = shape({ index: uint, name: str, memoryMB: uint })
const slotStateNames = new Set(['idle', 'busy', 'loading', 'down', 'broken'])
export const slotState: Check = (v, at) => {
  if (typeof v !== 'string' || !slotStateNames.has(v)) fail(at, 'a slot state (idle, busy, loading, down, broken)')
}

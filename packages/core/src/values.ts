import { addExtension, Encoder } from 'cbor-x'
import { UnsendableValueError } from './errors.js'
import { SHARED_REF_TAG, SharedRef } from './shared-ref.js'

/**
 * User values (init, params, results, updates) travel as CBOR with the
 * structured-clone extensions: Map, Set, Date, BigInt, typed arrays, Buffer,
 * RegExp, Error and cycles survive. Class instances arrive as plain objects.
 */
const codec = new Encoder({ structuredClone: true, useRecords: false, tagUint8Array: true })

/** What a {@link SharedRef} decodes to during one decodeValue call that was given a resolver. */
let resolveShared: ((hash: unknown) => unknown) | undefined

addExtension({
  Class: SharedRef,
  tag: SHARED_REF_TAG,
  encode: (ref: unknown, encode: (value: unknown) => Uint8Array) => encode((ref as SharedRef).hash),
  decode: (hash: unknown) =>
    resolveShared === undefined ? new SharedRef(typeof hash === 'string' ? hash : '', 0) : resolveShared(hash),
})

/**
 * Encodes a value, or throws {@link UnsendableValueError} naming where in the
 * value the part that can't be sent sits (e.g. `params.callback is a function`).
 */
export function encodeValue(value: unknown, what = 'value'): Uint8Array {
  // Look before encoding: cbor-x throws on a function or a symbol, but turns a
  // Promise, WeakMap or WeakSet into `{}` without a word.
  let reason = findUnsendable(value, what)
  if (reason === undefined) {
    try {
      return codec.encode(value)
    } catch (err) {
      reason = `${what} can't be encoded: ${(err as Error).message}`
    }
  }
  throw new UnsendableValueError(
    `${reason}. Values sent to workers and back may hold numbers, strings, booleans, null, arrays, ` +
      'plain objects, Map, Set, Date, BigInt, Uint8Array/Buffer and typed arrays; pass data, not code.',
  )
}

/**
 * Decodes a value encoded by {@link encodeValue}. `shared` gives what each
 * {@link SharedRef} inside becomes (called with the hash the bytes hold, which
 * a peer wrote: check it); without it a reference stays a SharedRef.
 */
export function decodeValue<T = unknown>(bytes: Uint8Array, shared?: (hash: unknown) => unknown): T {
  if (bytes.byteLength === 0) return undefined as T
  if (shared === undefined) return codec.decode(bytes) as T
  resolveShared = shared
  try {
    return codec.decode(bytes) as T
  } finally {
    resolveShared = undefined
  }
}

/** Describes the first part of a value that can't be sent, e.g. `params.a[2].f is a function`. */
function findUnsendable(value: unknown, what: string): string | undefined {
  const found = scan(value, new Set(), new Set())
  return found === undefined ? undefined : `${placeIn(what, found.at)} ${found.is}`
}

/**
 * Joins what the value is and the path below it so that it reads as one path:
 * `the update` and `.f` give `update.f`, `params (input 3)` and `.f` give
 * `params.f (input 3)`, not `the update.f` or `params (input 3).f`.
 */
function placeIn(what: string, at: string): string {
  if (at === '') return what
  const named = /^(?:the )?([A-Za-z_$][\w$.]*)( \(.*\))?$/.exec(what)
  return named === null ? `${what}${at}` : `${named[1]}${at}${named[2] ?? ''}`
}

interface Found {
  /** The path below the value's root, built only once something is found. */
  at: string
  is: string
}

const below = (step: string, found: Found | undefined): Found | undefined =>
  found === undefined ? undefined : { at: `${step}${found.at}`, is: found.is }

const isLeaf = (v: unknown): boolean =>
  v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean'

/**
 * Walks a value in the order the codec encodes it. `open` holds the Maps and
 * Sets being walked: cbor-x rebuilds a reference back to one of those as `{}`,
 * so such a cycle is refused here instead of arriving broken.
 */
function scan(value: unknown, seen: Set<object>, open: Set<object>): Found | undefined {
  const kind = typeof value
  if (kind === 'function') return { at: '', is: 'is a function' }
  if (kind === 'symbol') return { at: '', is: 'is a symbol' }
  if (value === null || kind !== 'object') return undefined
  const obj = value as object
  if (seen.has(obj)) {
    return open.has(obj)
      ? { at: '', is: "refers back to a Map or Set that holds it (a cycle through a Map or Set can't be sent)" }
      : undefined
  }
  seen.add(obj)
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) {
      const found = isLeaf(obj[i]) ? undefined : below(`[${i}]`, scan(obj[i], seen, open))
      if (found !== undefined) return found
    }
    return undefined
  }
  if (Object.getPrototypeOf(obj) !== Object.prototype) {
    if (ArrayBuffer.isView(obj) || obj instanceof Date || obj instanceof RegExp) return undefined
    if (obj instanceof Map || obj instanceof Set) {
      open.add(obj)
      const found = obj instanceof Map ? scanMap(obj, seen, open) : scanSet(obj, seen, open)
      open.delete(obj)
      return found
    }
    if (obj instanceof Promise) return { at: '', is: 'is a Promise (await it before sending)' }
    if (obj instanceof WeakMap || obj instanceof WeakSet) return { at: '', is: 'is a WeakMap or WeakSet' }
  }
  const record = obj as Record<string, unknown>
  for (const key of Object.keys(record)) {
    const found = isLeaf(record[key]) ? undefined : below(`.${key}`, scan(record[key], seen, open))
    if (found !== undefined) return found
  }
  return undefined
}

function scanMap(map: Map<unknown, unknown>, seen: Set<object>, open: Set<object>): Found | undefined {
  for (const [k, v] of map) {
    const found = below(' (a Map key)', scan(k, seen, open)) ?? below(`.get(${String(k)})`, scan(v, seen, open))
    if (found !== undefined) return found
  }
  return undefined
}

function scanSet(set: Set<unknown>, seen: Set<object>, open: Set<object>): Found | undefined {
  for (const v of set) {
    const found = below(' (a Set item)', scan(v, seen, open))
    if (found !== undefined) return found
  }
  return undefined
}

import { FrameError } from './errors.js'

/** What a frame may hold before it is decoded at all. */
export interface CborBudget {
  /** Arrays and maps inside one another. */
  maxDepth: number
  /** Arrays and maps in all (each becomes an object when decoded). */
  maxContainers: number
}

/** What a scan learnt: the top-level map's `type` field, when it is a short text. */
export interface CborScan {
  type: string | undefined
}

const textDecoder = new TextDecoder('utf-8', { fatal: false })

/**
 * Walks the CBOR structure of a frame without building any of it, and throws
 * FrameError when it is nested deeper or holds more arrays and maps than the
 * budget allows, when a length runs past the end, or when it is not one
 * whole data item. So a frame of millions of empty maps is refused in one
 * linear pass over its bytes, before a decoder turns each into an object.
 * On the way it reads the top-level `type` field, so the caller can bound
 * each message type's size before decoding it.
 */
export function scanCbor(bytes: Uint8Array, budget: CborBudget): CborScan {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let at = 0
  let containers = 0
  let type: string | undefined
  /** Per open container: items left (-1: until a break byte), and for the top-level map where its keys are. */
  const open: Array<{ left: number; topMap: boolean; index: number }> = []

  const fail = (why: string): never => {
    throw new FrameError(`a frame is refused before decoding: ${why}`)
  }
  const argument = (info: number): number => {
    if (info < 24) return info
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0
    if (size === 0) fail(`a reserved CBOR length at byte ${at}`)
    if (at + size > bytes.length) fail('it ends inside a length')
    let value: number
    if (size === 1) value = view.getUint8(at)
    else if (size === 2) value = view.getUint16(at)
    else if (size === 4) value = view.getUint32(at)
    else {
      const big = view.getBigUint64(at)
      value = big > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(big)
    }
    at += size
    return value
  }
  /** One item ended: count it against its container, closing the containers it finished. */
  const ended = (): void => {
    while (open.length > 0) {
      const top = open[open.length - 1] as { left: number; topMap: boolean; index: number }
      top.index++
      if (top.left < 0) return
      top.left--
      if (top.left > 0) return
      open.pop()
    }
  }

  let topKey: string | undefined
  /** A top-level tag was read: its content is still to come. */
  let tagged = false
  do {
    tagged = false
    if (at >= bytes.length) fail('it ends before its last item')
    const initial = bytes[at] as number
    at++
    const major = initial >> 5
    const info = initial & 0x1f
    const parent = open[open.length - 1]
    if (initial === 0xff) {
      if (parent === undefined || parent.left >= 0) fail(`a stray break at byte ${at - 1}`)
      open.pop()
      ended()
      continue
    }
    // The top-level map's keys and values, to find its `type` field.
    const topKeyHere = parent?.topMap === true && parent.index % 2 === 0
    const topValueOfType = parent?.topMap === true && parent.index % 2 === 1 && topKey === 'type'
    if (topKeyHere) topKey = undefined
    if (major === 4 || major === 5) {
      if (++containers > budget.maxContainers) fail(`over ${budget.maxContainers} arrays and maps`)
      if (open.length + 1 > budget.maxDepth) fail(`nested over ${budget.maxDepth} deep`)
      const count = info === 31 ? -1 : argument(info) * (major === 5 ? 2 : 1)
      if (count > bytes.length - at) fail('a container claims more items than the frame has bytes')
      if (count === 0) ended()
      else open.push({ left: count, topMap: major === 5 && open.length === 0, index: 0 })
      continue
    }
    if (major === 2 || major === 3) {
      if (info === 31) {
        // An indefinite string: definite chunks until a break.
        open.push({ left: -1, topMap: false, index: 0 })
        continue
      }
      const length = argument(info)
      if (length > bytes.length - at) fail('a string runs past the end of the frame')
      if (major === 3 && length <= 64 && (topKeyHere || topValueOfType)) {
        const text = textDecoder.decode(bytes.subarray(at, at + length))
        if (topKeyHere) topKey = text
        else type = text
      }
      at += length
      ended()
      continue
    }
    if (major === 7) {
      if (info >= 28 && info <= 30) fail(`a reserved CBOR simple value at byte ${at - 1}`)
      if (info >= 24) at += info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : 8
      if (at > bytes.length) fail('it ends inside a number')
      ended()
      continue
    }
    // 0, 1: integers; 6: a tag, whose content is the next item (so it ends nothing itself).
    argument(info)
    if (major !== 6) ended()
    else tagged = open.length === 0
  } while (open.length > 0 || tagged)
  if (at !== bytes.length) fail(`${bytes.length - at} bytes follow its one item`)
  return { type }
}

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
  return new CborScanner(bytes, budget).scan()
}

/** An open container: items left (-1: until a break byte), and for the top-level map where its keys are. */
interface OpenContainer {
  left: number
  topMap: boolean
  index: number
}

/** One pass of {@link scanCbor} over one frame. */
class CborScanner {
  readonly #bytes: Uint8Array
  readonly #view: DataView
  readonly #budget: CborBudget
  #at = 0
  #containers = 0
  #type: string | undefined
  readonly #open: OpenContainer[] = []
  /** The top-level map's key being read, for its `type` field. */
  #topKey: string | undefined
  /** A top-level tag was read: its content is still to come. */
  #tagged = false

  constructor(bytes: Uint8Array, budget: CborBudget) {
    this.#bytes = bytes
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.#budget = budget
  }

  scan(): CborScan {
    const bytes = this.#bytes
    do {
      this.#tagged = false
      if (this.#at >= bytes.length) fail('it ends before its last item')
      this.#item(bytes[this.#at++] as number)
    } while (this.#open.length > 0 || this.#tagged)
    if (this.#at !== bytes.length) fail(`${bytes.length - this.#at} bytes follow its one item`)
    return { type: this.#type }
  }

  /** One data item, from its initial byte. */
  #item(initial: number): void {
    const major = initial >> 5
    const info = initial & 0x1f
    const parent = this.#open[this.#open.length - 1]
    if (initial === 0xff) {
      if (parent === undefined || parent.left >= 0) fail(`a stray break at byte ${this.#at - 1}`)
      this.#open.pop()
      this.#ended()
      return
    }
    // The top-level map's keys and values, to find its `type` field.
    const topKeyHere = parent?.topMap === true && parent.index % 2 === 0
    const topValueOfType = parent?.topMap === true && parent.index % 2 === 1 && this.#topKey === 'type'
    if (topKeyHere) this.#topKey = undefined
    if (major === 4 || major === 5) this.#container(major, info)
    else if (major === 2 || major === 3) this.#string(major, info, topKeyHere, topValueOfType)
    else if (major === 7) this.#simple(info)
    else {
      // 0, 1: integers; 6: a tag, whose content is the next item (so it ends nothing itself).
      this.#argument(info)
      if (major !== 6) this.#ended()
      else this.#tagged = this.#open.length === 0
    }
  }

  /** An array (4) or a map (5). */
  #container(major: number, info: number): void {
    const budget = this.#budget
    if (++this.#containers > budget.maxContainers) fail(`over ${budget.maxContainers} arrays and maps`)
    if (this.#open.length + 1 > budget.maxDepth) fail(`nested over ${budget.maxDepth} deep`)
    const count = info === 31 ? -1 : this.#argument(info) * (major === 5 ? 2 : 1)
    if (count > this.#bytes.length - this.#at) fail('a container claims more items than the frame has bytes')
    if (count === 0) this.#ended()
    else this.#open.push({ left: count, topMap: major === 5 && this.#open.length === 0, index: 0 })
  }

  /** A byte string (2) or a text (3); the top-level map's keys and its `type` are read. */
  #string(major: number, info: number, topKeyHere: boolean, topValueOfType: boolean): void {
    if (info === 31) {
      // An indefinite string: definite chunks until a break.
      this.#open.push({ left: -1, topMap: false, index: 0 })
      return
    }
    const length = this.#argument(info)
    if (length > this.#bytes.length - this.#at) fail('a string runs past the end of the frame')
    if (major === 3 && length <= 64 && (topKeyHere || topValueOfType)) {
      const text = textDecoder.decode(this.#bytes.subarray(this.#at, this.#at + length))
      if (topKeyHere) this.#topKey = text
      else this.#type = text
    }
    this.#at += length
    this.#ended()
  }

  /** A simple value or a float (7). */
  #simple(info: number): void {
    if (info >= 28 && info <= 30) fail(`a reserved CBOR simple value at byte ${this.#at - 1}`)
    if (info >= 24) this.#at += info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : 8
    if (this.#at > this.#bytes.length) fail('it ends inside a number')
    this.#ended()
  }

  /** The length or value that follows an initial byte. */
  #argument(info: number): number {
    if (info < 24) return info
    const at = this.#at
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0
    if (size === 0) fail(`a reserved CBOR length at byte ${at}`)
    if (at + size > this.#bytes.length) fail('it ends inside a length')
    let value: number
    if (size === 1) value = this.#view.getUint8(at)
    else if (size === 2) value = this.#view.getUint16(at)
    else if (size === 4) value = this.#view.getUint32(at)
    else {
      const big = this.#view.getBigUint64(at)
      value = big > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(big)
    }
    this.#at = at + size
    return value
  }

  /** One item ended: count it against its container, closing the containers it finished. */
  #ended(): void {
    const open = this.#open
    while (open.length > 0) {
      const top = open[open.length - 1] as OpenContainer
      top.index++
      if (top.left < 0) return
      top.left--
      if (top.left > 0) return
      open.pop()
    }
  }
}

function fail(why: string): never {
  throw new FrameError(`a frame is refused before decoding: ${why}`)
}

import { FrameError } from '@meshpool/core'

/** A chunk as a libp2p stream yields it: bytes, or a list of them (a Uint8ArrayList). */
type Chunk = Uint8Array | (Iterable<Uint8Array> & { byteLength: number; subarray(): Uint8Array })

/**
 * While a frame of at least this many bytes is read, a list is taken as its own
 * pieces (the frame is copied together once, at its end); otherwise a list is joined
 * into one buffer first (one small copy: the small frames in it are then views of it,
 * where frames across many small pieces would each be copied together).
 */
const BIG_FRAME_BYTES = 1024 * 1024

/** Bytes of a varint length prefix at most (2^56 is far past any frame bound). */
const MAX_VARINT_BYTES = 8

export interface FrameReaderInit {
  /** The largest frame taken at all. */
  maxBytes: number
  /** How many first bytes `checkStart` wants to see (fewer for a shorter frame). */
  startBytes: number
  /** Checks a frame from its first bytes and its announced length before the rest is buffered; throws to refuse. */
  checkStart: (start: Uint8Array, length: number) => void
}

/**
 * Splits a byte stream into varint length-prefixed frames. Each frame's start
 * is checked as soon as it arrives, so a frame this side would refuse (of an
 * unknown type, or longer than its type may be) is refused before its body
 * is buffered, not after.
 */
export class FrameReader {
  readonly #init: FrameReaderInit
  #parts: Uint8Array[] = []
  #buffered = 0
  /** The length of the frame being read, once its prefix is in. */
  #length: number | undefined
  #started = false

  constructor(init: FrameReaderInit) {
    this.#init = init
  }

  /**
   * Takes a chunk; returns the frames it completed, at most `limit` (the bytes after
   * those stay as they came: see {@link rest}). Throws FrameError for a frame to refuse.
   */
  push(chunk: Chunk, limit = Number.POSITIVE_INFINITY): Uint8Array[] {
    const inBigFrame = this.#length !== undefined && this.#length >= BIG_FRAME_BYTES
    const pieces = chunk instanceof Uint8Array || !inBigFrame ? [bytesOf(chunk)] : chunk
    for (const bytes of pieces) {
      if (bytes.byteLength === 0) continue
      this.#parts.push(bytes)
      this.#buffered += bytes.byteLength
    }
    const frames: Uint8Array[] = []
    while (frames.length < limit) {
      if (this.#length === undefined) {
        const prefix = this.#readPrefix()
        if (prefix === undefined) return frames
        this.#length = prefix
        this.#started = false
      }
      const length = this.#length
      if (!this.#started) {
        const want = Math.min(length, this.#init.startBytes)
        if (this.#buffered < want) return frames
        this.#init.checkStart(this.#peek(want), length)
        this.#started = true
      }
      if (this.#buffered < length) return frames
      frames.push(this.#take(length))
      this.#length = undefined
    }
    return frames
  }

  /** The bytes buffered past the frames read so far, taken out of the reader. */
  rest(): Uint8Array[] {
    const parts = this.#parts
    this.#parts = []
    this.#buffered = 0
    return parts
  }

  /** Reads a length prefix off the front, if it is all there. */
  #readPrefix(): number | undefined {
    const head = this.#peek(Math.min(this.#buffered, MAX_VARINT_BYTES))
    let value = 0
    for (let i = 0; i < head.length; i++) {
      const byte = head[i] as number
      value += (byte & 0x7f) * 2 ** (7 * i)
      if (byte < 0x80) {
        if (value > this.#init.maxBytes) {
          throw new FrameError(`a frame of ${value} bytes is over the limit of ${this.#init.maxBytes} bytes`)
        }
        this.#take(i + 1)
        return value
      }
    }
    if (head.length >= MAX_VARINT_BYTES) throw new FrameError('a frame length prefix is malformed')
    return undefined
  }

  /** The first n buffered bytes, without taking them. */
  #peek(n: number): Uint8Array {
    const first = this.#parts[0]
    if (first !== undefined && first.byteLength >= n) return first.subarray(0, n)
    return this.#copy(n, false)
  }

  /** Takes the first n buffered bytes off the front. */
  #take(n: number): Uint8Array {
    const first = this.#parts[0]
    if (first !== undefined && first.byteLength >= n) {
      const taken = first.subarray(0, n)
      if (first.byteLength === n) this.#parts.shift()
      else this.#parts[0] = first.subarray(n)
      this.#buffered -= n
      return taken
    }
    return this.#copy(n, true)
  }

  #copy(n: number, take: boolean): Uint8Array {
    const out = new Uint8Array(n)
    let at = 0
    let used = 0
    for (const part of this.#parts) {
      if (at === n) break
      const piece = part.subarray(0, n - at)
      out.set(piece, at)
      at += piece.byteLength
      if (piece.byteLength === part.byteLength) used++
      else if (take) this.#parts[used] = part.subarray(piece.byteLength)
    }
    if (take) {
      this.#parts.splice(0, used)
      this.#buffered -= n
    }
    return out
  }
}

function bytesOf(chunk: Chunk): Uint8Array {
  return chunk instanceof Uint8Array ? chunk : chunk.subarray()
}

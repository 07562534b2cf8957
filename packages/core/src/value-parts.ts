import { FrameError } from './errors.js'
import { VALUE_PART_BYTES } from './wire/limits.js'

/** One part of a big value: its bytes at `offset` of a value of `total` bytes. */
export interface ValuePart {
  data: Uint8Array
  offset: number
  total: number
}

/** A value cut into parts of at most `partBytes` (views of it, not copies); one part for a small value. */
export function* valueParts(data: Uint8Array, partBytes = VALUE_PART_BYTES): Generator<ValuePart> {
  const total = data.byteLength
  if (total === 0) yield { data, offset: 0, total }
  for (let offset = 0; offset < total; offset += partBytes) {
    yield { data: data.subarray(offset, Math.min(total, offset + partBytes)), offset, total }
  }
}

/**
 * A big value put together from its parts, as they arrive in order, into one
 * buffer of its whole size. A part out of order, past the end, or of another
 * total throws FrameError: the sender is broken or hostile. `maxBytes` bounds
 * the whole size a sender may announce.
 */
export class ValueAssembly {
  readonly #data: Uint8Array
  #filled = 0

  constructor(total: number, maxBytes: number) {
    if (!Number.isSafeInteger(total) || total < 0 || total > maxBytes) {
      throw new FrameError(`a value of ${total} bytes is over the ${maxBytes} bytes this side takes`)
    }
    this.#data = new Uint8Array(total)
  }

  /** Adds the next part; the whole value once it is complete, else undefined. */
  add(part: ValuePart): Uint8Array | undefined {
    if (part.total !== this.#data.byteLength || part.offset !== this.#filled) {
      throw new FrameError(
        `a part at ${part.offset} of ${part.total} bytes, where the next is at ${this.#filled} of ${this.#data.byteLength}`,
      )
    }
    if (part.offset + part.data.byteLength > part.total) throw new FrameError('a part runs past the end of its value')
    this.#data.set(part.data, part.offset)
    this.#filled += part.data.byteLength
    return this.#filled === this.#data.byteLength ? this.#data : undefined
  }
}

import type { Readable } from 'node:stream'

interface Claim {
  data: Uint8Array
  filled: number
  resolve: (data: Uint8Array) => void
}

/**
 * The slot's end of the bulk pipe (see BULK_FD): raw bytes, claimed in the
 * order the messages that name them arrive. Each claim is read straight into
 * one buffer of its size: one copy, no serializer.
 */
export class BulkReader {
  readonly #claims: Claim[] = []
  /** Bytes that came before anyone claimed them. */
  #early: Buffer[] = []

  constructor(stream: Readable) {
    stream.on('data', (chunk: Buffer) => this.#take(chunk))
  }

  /** The next `bytes` bytes on the pipe. */
  claim(bytes: number): Promise<Uint8Array> {
    return new Promise((resolve) => {
      this.#claims.push({ data: new Uint8Array(bytes), filled: 0, resolve })
      const early = this.#early
      this.#early = []
      for (const chunk of early) this.#take(chunk)
      this.#settle()
    })
  }

  #take(chunk: Buffer): void {
    let at = 0
    for (const claim of this.#claims) {
      if (at >= chunk.length) break
      const n = Math.min(claim.data.byteLength - claim.filled, chunk.length - at)
      claim.data.set(chunk.subarray(at, at + n), claim.filled)
      claim.filled += n
      at += n
    }
    if (at < chunk.length) this.#early.push(chunk.subarray(at))
    this.#settle()
  }

  #settle(): void {
    while (
      this.#claims.length > 0 &&
      (this.#claims[0] as Claim).filled === (this.#claims[0] as Claim).data.byteLength
    ) {
      const claim = this.#claims.shift() as Claim
      claim.resolve(claim.data)
    }
  }
}

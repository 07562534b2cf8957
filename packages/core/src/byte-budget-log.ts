/**
 * Entries in order, kept while their bytes stay within a budget: past it the
 * oldest are dropped, but the newest always stays, whatever its size. The
 * head's update log, a node's copy of it and a client's updates kept for
 * replay are each one of these.
 *
 * @example
 * ```ts
 * const log = new ByteBudgetLog<Uint8Array>(1024, (bytes) => bytes.byteLength)
 * log.push(new Uint8Array(1000))
 * log.push(new Uint8Array(100)) // 1: the first entry is dropped
 * ```
 */
export class ByteBudgetLog<T> {
  readonly #budget: number
  readonly #sizeOf: (entry: T) => number
  #entries: T[] = []
  #bytes = 0

  /** `sizeOf`: the bytes an entry counts for. */
  constructor(budgetBytes: number, sizeOf: (entry: T) => number) {
    this.#budget = budgetBytes
    this.#sizeOf = sizeOf
  }

  /** Bytes of the entries kept. */
  get bytes(): number {
    return this.#bytes
  }

  /** Entries kept. */
  get length(): number {
    return this.#entries.length
  }

  /** Adds an entry as the newest. Returns how many of the oldest were dropped for the budget. */
  push(entry: T): number {
    this.#entries.push(entry)
    this.#bytes += this.#sizeOf(entry)
    let drop = 0
    while (this.#bytes > this.#budget && drop < this.#entries.length - 1) {
      this.#bytes -= this.#sizeOf(this.#entries[drop] as T)
      drop++
    }
    if (drop > 0) this.#entries = this.#entries.slice(drop)
    return drop
  }

  /** The entry at an index, the oldest kept at 0. */
  at(index: number): T | undefined {
    return this.#entries[index]
  }

  /** The entries kept, oldest first (a view: it changes with the log). */
  entries(): readonly T[] {
    return this.#entries
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this.#entries[Symbol.iterator]()
  }

  /** Drops every entry. */
  clear(): void {
    this.#entries = []
    this.#bytes = 0
  }
}

import type { UpdateEntry } from './wire/index.js'

/** Bytes of updates a pool's log keeps for late joiners. @default 64 MiB */
export const DEFAULT_UPDATE_LOG_BYTES = 64 * 1024 * 1024

/**
 * A pool's numbered cache updates, kept up to a byte budget so that nodes
 * which join late (or missed a gossip message) can catch up. Past the budget
 * the oldest entries are dropped; `since()` then says how many were missed.
 */
export class UpdateLog {
  readonly poolId: number
  readonly #budget: number
  #entries: UpdateEntry[] = []
  #bytes = 0
  #seq = 0

  constructor(poolId: number, budgetBytes = DEFAULT_UPDATE_LOG_BYTES) {
    this.poolId = poolId
    this.#budget = budgetBytes
  }

  /** The number of the latest update (0 before the first). */
  get seq(): number {
    return this.#seq
  }

  get bytes(): number {
    return this.#bytes
  }

  /** Logs an update and returns its entry with its sequence number. */
  append(value: Uint8Array): UpdateEntry {
    const entry: UpdateEntry = { poolId: this.poolId, seq: ++this.#seq, value }
    this.#entries.push(entry)
    this.#bytes += value.byteLength
    let drop = 0
    while (this.#bytes > this.#budget && drop < this.#entries.length - 1) {
      this.#bytes -= (this.#entries[drop] as UpdateEntry).value.byteLength
      drop++
    }
    if (drop > 0) this.#entries = this.#entries.slice(drop)
    return entry
  }

  /** Entries after `seq`, and how many of them the budget has already dropped. */
  since(seq: number): { entries: UpdateEntry[]; missed: number } {
    const first = this.#entries[0]?.seq ?? this.#seq + 1
    const missed = Math.max(0, first - seq - 1)
    return { entries: this.#entries.filter((e) => e.seq > seq), missed }
  }
}

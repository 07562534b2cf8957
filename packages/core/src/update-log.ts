import { ByteBudgetLog } from './byte-budget-log.js'
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
  readonly #entries: ByteBudgetLog<UpdateEntry>
  #seq = 0

  constructor(poolId: number, budgetBytes = DEFAULT_UPDATE_LOG_BYTES) {
    this.poolId = poolId
    this.#entries = new ByteBudgetLog(budgetBytes, (entry) => entry.value.byteLength)
  }

  /** The number of the latest update (0 before the first). */
  get seq(): number {
    return this.#seq
  }

  get bytes(): number {
    return this.#entries.bytes
  }

  /** Logs an update and returns its entry with its sequence number. */
  append(value: Uint8Array): UpdateEntry {
    const entry: UpdateEntry = { poolId: this.poolId, seq: ++this.#seq, value }
    this.#entries.push(entry)
    return entry
  }

  /** Entries after `seq`, and how many of them the budget has already dropped. */
  since(seq: number): { entries: UpdateEntry[]; missed: number } {
    const first = this.#entries.at(0)?.seq ?? this.#seq + 1
    const missed = Math.max(0, first - seq - 1)
    return { entries: this.#entries.entries().filter((e) => e.seq > seq), missed }
  }
}

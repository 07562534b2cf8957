import type { UpdateEntry } from '@meshpool/core'

/**
 * A node's copy of one pool's update log: entries in order from 1, with those
 * that arrive ahead of a gap held back until the gap is filled (by gossip or
 * by a catch-up from the head).
 */
export class PoolUpdates {
  readonly #entries: UpdateEntry[] = []
  readonly #ahead = new Map<number, UpdateEntry>()
  /** A catch-up request is out. */
  catchingUp = false

  /** The number of the last update held in order. */
  get known(): number {
    return this.#entries.length
  }

  /** The update with this number (1-based); it must be known. */
  get(seq: number): UpdateEntry {
    return this.#entries[seq - 1] as UpdateEntry
  }

  /**
   * Takes an update. Returns 'new' when it (and maybe some held back) joined
   * the log, 'gap' when it is held back and the caller should catch up, and
   * 'old' for one already known.
   */
  accept(entry: UpdateEntry): 'new' | 'gap' | 'old' {
    if (entry.seq <= this.known) return 'old'
    if (entry.seq > this.known + 1) {
      this.#ahead.set(entry.seq, entry)
      return 'gap'
    }
    this.#entries.push(entry)
    for (let next = this.#ahead.get(this.known + 1); next !== undefined; next = this.#ahead.get(this.known + 1)) {
      this.#ahead.delete(next.seq)
      this.#entries.push(next)
    }
    return 'new'
  }
}

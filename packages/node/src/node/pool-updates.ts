import { ByteBudgetLog, DEFAULT_UPDATE_LOG_BYTES, type UpdateEntry } from '@meshpool/core'
import type { ToSlot } from '../slot/protocol.js'

/**
 * A node's copy of one pool's update log: entries in order, with those that
 * arrive ahead of a gap held back until the gap is filled (by gossip or by a
 * catch-up from the head). Like the head's log it keeps the newest updates up
 * to a byte budget, for slots that (re)load the pool later; the updates before
 * {@link first} are gone, and such a slot is told how many it missed.
 */
export class PoolUpdates {
  readonly #entries: ByteBudgetLog<UpdateEntry>
  readonly #ahead = new Map<number, UpdateEntry>()
  /** Updates up to this number are not held: dropped for the budget, or gone from the head's log. */
  #base = 0
  /** A catch-up request is out. */
  catchingUp = false
  /** The highest update number heard of (announced, or named by a heartbeat's answer). */
  wanted = 0
  /** Big updates being fetched as blobs: a catch-up need not fetch them from the head too. */
  readonly blobsComing = new Set<number>()

  constructor(budgetBytes = DEFAULT_UPDATE_LOG_BYTES) {
    this.#entries = new ByteBudgetLog(budgetBytes, (entry) => entry.value.byteLength)
  }

  /** The number of the last update held in order. */
  get known(): number {
    return this.#base + this.#entries.length
  }

  /** The number of the oldest update held (known + 1 when none is). */
  get first(): number {
    return this.#base + 1
  }

  /** The update with this number; it must be held (first ≤ seq ≤ known). */
  get(seq: number): UpdateEntry {
    return this.#entries.at(seq - this.#base - 1) as UpdateEntry
  }

  /**
   * What a slot that has applied updates up to `sentSeq` needs next: how many it
   * can no longer get (dropped for the budget before it saw them), then the
   * entries still held, in order.
   */
  pendingFor(sentSeq: number): { missed: number; entries: UpdateEntry[] } {
    let from = sentSeq
    let missed = 0
    if (from < this.known && from + 1 < this.first) {
      missed = this.first - 1 - from
      from = this.first - 1
    }
    const entries: UpdateEntry[] = []
    for (let seq = from + 1; seq <= this.known; seq++) entries.push(this.get(seq))
    return { missed, entries }
  }

  /**
   * Sends a slot that has applied updates up to `sentSeq` what it needs next
   * (see {@link pendingFor}): it is told how many it can no longer get, then
   * given the others in order. Returns the number it has applied then.
   */
  feed(sentSeq: number, send: (message: Extract<ToSlot, { type: 'missed' | 'update' }>) => void): number {
    const { missed, entries } = this.pendingFor(sentSeq)
    if (missed > 0) send({ type: 'missed', count: missed })
    let applied = sentSeq + missed
    for (const entry of entries) {
      send({ type: 'update', seq: entry.seq, value: entry.value })
      applied = entry.seq
    }
    return applied
  }

  /** Whether every update missing up to `seq` is on its way as a blob. */
  allComing(seq: number): boolean {
    for (let s = this.known + 1; s <= seq; s++) if (!this.blobsComing.has(s)) return false
    return true
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
    this.#push(entry)
    this.#drainAhead()
    return 'new'
  }

  /** The head's log no longer has the updates up to `through`: go on from there without them. */
  skipTo(through: number): void {
    if (through <= this.known) return
    this.#entries.clear()
    this.#base = through
    for (const seq of this.#ahead.keys()) if (seq <= through) this.#ahead.delete(seq)
    this.#drainAhead()
  }

  #push(entry: UpdateEntry): void {
    this.#base += this.#entries.push(entry)
  }

  #drainAhead(): void {
    for (let next = this.#ahead.get(this.known + 1); next !== undefined; next = this.#ahead.get(this.known + 1)) {
      this.#ahead.delete(next.seq)
      this.#push(next)
    }
  }
}

/**
 * Runs `flush` once at the end of this turn of the event loop, however many
 * times it is asked for in the turn: what many callers add during one turn
 * (results, output lines, progress, jobs) goes out as one frame.
 */
export class TickFlush {
  readonly #flush: () => void
  #scheduled: ReturnType<typeof setImmediate> | undefined

  constructor(flush: () => void) {
    this.#flush = flush
  }

  /** Asks for a flush at the end of this turn (once, however often asked). */
  request(): void {
    this.#scheduled ??= setImmediate(() => this.now())
  }

  /** Flushes now, instead of at the end of the turn if that was asked for. */
  now(): void {
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled)
    this.#scheduled = undefined
    this.#flush()
  }
}

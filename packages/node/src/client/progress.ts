/** Where a `map` or `imapUnordered` call stands, as its `onProgress` sees it. */
export interface Progress {
  /** How many inputs there are: known for arrays from the start, for other inputs once they are all read. */
  total: number | undefined
  done: number
  failed: number
  /** Jobs on a node: started, or next in that node's queue. */
  running: number
  /** Jobs submitted and waiting for a slot. */
  queued: number
  /**
   * What running jobs reported through `ctx.progress`, by input index (0 until
   * they report). A Map that `JSON.stringify` writes as an object,
   * `{ "<input index>": fraction }`, so a whole Progress can be logged or sent as JSON.
   */
  jobs: ReadonlyMap<number, number>
}

/** The fraction of each running job, by input index; JSON has it as a plain object. */
class JobFractions extends Map<number, number> {
  toJSON(): Record<string, number> {
    return Object.fromEntries(this)
  }
}

/** Calls reach onProgress at most this often, and once more when they end. */
const PROGRESS_EVERY_MS = 100

/** Keeps one call's progress and tells its onProgress, throttled. */
export class ProgressTracker {
  readonly #onProgress: (progress: Progress) => void
  readonly #indexOf = new Map<number, number>()
  readonly #running = new Map<number, number>()
  #total: number | undefined
  #done = 0
  #failed = 0
  #timer: NodeJS.Timeout | undefined
  #lastAt = Number.NEGATIVE_INFINITY

  constructor(onProgress: (progress: Progress) => void, total: number | undefined) {
    this.#onProgress = onProgress
    this.#total = total
  }

  submitted(id: number, index: number): void {
    this.#indexOf.set(id, index)
    this.#changed()
  }

  /** A job was leased (0) or reported how far it got. */
  progress(id: number, fraction: number): void {
    const index = this.#indexOf.get(id)
    if (index === undefined) return
    this.#running.set(index, fraction)
    this.#changed()
  }

  finished(id: number, ok: boolean): void {
    const index = this.#indexOf.get(id)
    if (index === undefined) return
    this.#indexOf.delete(id)
    this.#running.delete(index)
    if (ok) this.#done++
    else this.#failed++
    this.#changed()
  }

  /** All inputs are read: now the total is known. */
  exhausted(count: number): void {
    this.#total = count
    this.#changed()
  }

  /** The call ended: one last report, now. */
  end(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#emit()
  }

  #changed(): void {
    if (this.#timer !== undefined) return
    const wait = this.#lastAt + PROGRESS_EVERY_MS - performance.now()
    if (wait <= 0) this.#emit()
    else this.#timer = setTimeout(() => this.#emit(), wait)
  }

  #emit(): void {
    this.#timer = undefined
    this.#lastAt = performance.now()
    const inFlight = this.#indexOf.size
    this.#onProgress({
      total: this.#total,
      done: this.#done,
      failed: this.#failed,
      running: this.#running.size,
      queued: inFlight - this.#running.size,
      jobs: new JobFractions(this.#running),
    })
  }
}

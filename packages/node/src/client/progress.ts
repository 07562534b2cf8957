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

/**
 * The calls of one pool that watch their progress: while any does, the head
 * is asked to say when each job is leased, and each job's progress goes to
 * its call's tracker.
 */
export class ProgressWatch {
  readonly #watch: (on: boolean) => void
  /** The tracker of each open job whose call watches its progress. */
  readonly #trackers = new Map<number, ProgressTracker>()
  #watchers = 0

  /** `watch`: asks the head to say when jobs are leased, or to stop. */
  constructor(watch: (on: boolean) => void) {
    this.#watch = watch
  }

  /** A tracker for a call with onProgress (none without); the head is asked to watch while any call does. */
  track(
    onProgress: ((progress: Progress) => void) | undefined,
    total: number | undefined,
  ): ProgressTracker | undefined {
    if (onProgress === undefined) return undefined
    if (this.#watchers++ === 0) this.#watch(true)
    return new ProgressTracker((progress) => {
      try {
        onProgress(progress)
      } catch (err) {
        process.emitWarning(`meshpool: onProgress threw: ${(err as Error)?.stack ?? String(err)}`)
      }
    }, total)
  }

  /** A job of a watched call was submitted. */
  submitted(tracker: ProgressTracker, id: number, index: number): void {
    this.#trackers.set(id, tracker)
    tracker.submitted(id, index)
  }

  /** A job was leased (0) or said how far it got. */
  progress(id: number, fraction: number): void {
    this.#trackers.get(id)?.progress(id, fraction)
  }

  /** A job settled. */
  forget(id: number): void {
    this.#trackers.delete(id)
  }

  /** A watched call ended, with these jobs still out. */
  end(tracker: ProgressTracker, open: Iterable<number>): void {
    for (const id of open) this.#trackers.delete(id)
    tracker.end()
    if (--this.#watchers === 0) this.#watch(false)
  }
}

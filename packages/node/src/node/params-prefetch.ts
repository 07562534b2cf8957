import { type BlobRef, type ErrorShape, errorShape, type LeasedJob, type PeerInfo } from '@meshpool/core'
import type { FetchParams } from './params-fetch.js'

export interface ParamsPrefetchInit {
  fetch: FetchParams
  /** The pool's client, for a straight fetch. */
  clientOf: (poolId: number) => PeerInfo | undefined
  /** Jobs whose params are fetched this many at most, fetched or under way, before a slot takes them. */
  ahead: () => number
  /** A job's params came: it joins the queue. */
  ready: (job: LeasedJob) => void
  /** A job's params can't be had: it is lost on this node. */
  failed: (job: LeasedJob, error: ErrorShape) => void
}

interface Fetching {
  job: LeasedJob
  abort: AbortController
}

/**
 * A node's fetches of big params that stayed with their client (see BlobRef),
 * a few jobs ahead of its slots: at most `ahead()` jobs' params are held or on
 * their way (a queue of 1,000 jobs of 100 MiB params must not become 100 GB on
 * the node); the others wait their turn, unfetched.
 */
export class ParamsPrefetch {
  readonly #init: ParamsPrefetchInit
  readonly #waiting: Array<{ job: LeasedJob; blob: BlobRef }> = []
  readonly #fetching = new Map<number, Fetching>()
  /** Jobs whose params came, until a slot takes them (the dispatcher's queue holds them). */
  readonly #fetched = new WeakSet<LeasedJob>()

  constructor(init: ParamsPrefetchInit) {
    this.#init = init
  }

  /** Jobs here: waiting to fetch, or fetching. */
  get size(): number {
    return this.#waiting.length + this.#fetching.size
  }

  add(job: LeasedJob, blob: BlobRef): void {
    this.#waiting.push({ job, blob })
  }

  /** Starts fetches while fewer than `ahead()` jobs' params are here: fetching, or fetched and still in `queue`. */
  start(queue: readonly LeasedJob[]): void {
    if (this.#waiting.length === 0) return
    let held = this.#fetching.size
    for (const job of queue) if (this.#fetched.has(job)) held++
    while (held < this.#init.ahead() && this.#waiting.length > 0) {
      const { job, blob } = this.#waiting.shift() as { job: LeasedJob; blob: BlobRef }
      this.#fetch(job, blob)
      held++
    }
  }

  /** Stops and forgets the jobs `pick` names (waiting or fetching); their ids. */
  drop(pick: (job: LeasedJob) => boolean): number[] {
    const dropped: number[] = []
    for (let i = this.#waiting.length - 1; i >= 0; i--) {
      const { job } = this.#waiting[i] as { job: LeasedJob }
      if (!pick(job)) continue
      this.#waiting.splice(i, 1)
      dropped.push(job.jobId)
    }
    for (const [jobId, { job, abort }] of this.#fetching) {
      if (!pick(job)) continue
      abort.abort()
      this.#fetching.delete(jobId)
      dropped.push(jobId)
    }
    return dropped
  }

  #fetch(job: LeasedJob, blob: BlobRef): void {
    const abort = new AbortController()
    const fetching = { job, abort }
    this.#fetching.set(job.jobId, fetching)
    const current = (): boolean => this.#fetching.get(job.jobId) === fetching && !abort.signal.aborted
    this.#init.fetch(blob, job.poolId, this.#init.clientOf(job.poolId), abort.signal).then(
      (params) => {
        if (!current()) return
        this.#fetching.delete(job.jobId)
        const ready = { ...job, params }
        this.#fetched.add(ready)
        this.#init.ready(ready)
      },
      (err: Error) => {
        if (!current()) return
        this.#fetching.delete(job.jobId)
        this.#init.failed(
          job,
          errorShape(new Error(`its params (${blob.bytes} bytes) could not be fetched: ${err.message}`)),
        )
      },
    )
  }
}

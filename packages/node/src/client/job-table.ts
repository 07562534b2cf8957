import {
  BATCH_SOFT_BYTES,
  BIG_VALUE_BYTES,
  type ClientOutcome,
  Deque,
  decodeBlobRef,
  encodeBlobRef,
  errorFromShape,
  MAX_BATCH_ITEMS,
  MAX_OPEN_JOBS_PER_CLIENT,
  RemoteJobError,
  type SubmittedJob,
  TickFlush,
  WorkerLoadError,
  WorkerLostError,
} from '@meshpool/core'
import type { ClientLink } from './client-link.js'
import type { ClientParams } from './client-params.js'
import type { ClientResults } from './client-results.js'

interface OpenJob {
  job: SubmittedJob
  /** Sent to the head on the current connection (the rest wait: see MAX_OPEN_JOBS_PER_CLIENT). */
  sent: boolean
  /** The hash of its params, held in ClientParams while the job is open (big params only). */
  blob?: string
  resolve(value: Uint8Array): void
  reject(err: Error): void
}

/** Errors that meshpool itself raises keep their class; anything else a worker threw is a RemoteJobError. */
const OWN_ERRORS = new Set([
  WorkerLostError.name,
  WorkerLoadError.name,
  'TimeoutError',
  'AbortError',
  'UnsendableValueError',
])

/**
 * A client's open jobs: each is kept until its result arrives (and sent
 * again after a reconnect), sent in submit frames of one event-loop turn
 * each, while the head holds fewer of them than it allows. Params of
 * BIG_VALUE_BYTES or more stay in `blobs` (when given): the job carries
 * their hash, and the node that runs it fetches them.
 */
export class JobTable {
  readonly #link: ClientLink
  readonly #params: ClientParams | undefined
  readonly #results: ClientResults | undefined
  readonly #jobs = new Map<number, OpenJob>()
  /** Open jobs not yet sent, in order: the head holds as many of this client's as it takes. */
  readonly #unsent = new Deque<number>()
  #sentOpen = 0
  /** The head's limit on this client's open jobs (it says in `opened`). */
  #maxOpen = MAX_OPEN_JOBS_PER_CLIENT
  #outbox: SubmittedJob[] = []
  #outboxBytes = 0
  readonly #batch = new TickFlush(() => this.#flush())
  #nextJobId = 1

  /** `big`: where big params wait for nodes, and big results come; none: both go in frames. */
  constructor(link: ClientLink, big?: { params: ClientParams; results: ClientResults }) {
    this.#link = link
    this.#params = big?.params
    this.#results = big?.results
  }

  /** Jobs open: submitted and not yet settled. */
  get size(): number {
    return this.#jobs.size
  }

  has(id: number): boolean {
    return this.#jobs.has(id)
  }

  /** Submits one job; resolves with its encoded result. Returns the job's id with the promise. */
  submit(params: Uint8Array, timeoutMs: number): { id: number; result: Promise<Uint8Array> } {
    const id = this.#nextJobId++
    const closed = this.#link.closed()
    if (closed !== undefined) return { id, result: Promise.reject(closed) }
    let blob: string | undefined
    if (this.#params !== undefined && params.byteLength >= BIG_VALUE_BYTES) {
      const held = this.#params.hold(params, `the params of job ${id}`)
      blob = held.hash
      params = encodeBlobRef(held)
    }
    const job: SubmittedJob = timeoutMs > 0 ? { id, params, timeoutMs } : { id, params }
    const result = new Promise<Uint8Array>((resolve, reject) =>
      this.#jobs.set(id, { job, sent: false, resolve, reject, ...(blob === undefined ? {} : { blob }) }),
    )
    this.#unsent.push(id)
    this.#sendUnsent()
    this.#link.changed()
    return { id, result }
  }

  /** Cancels open jobs: their promises are settled by the caller; the head drops or stops them. */
  cancel(ids: number[]): void {
    const open: number[] = []
    for (const id of ids) {
      const job = this.#jobs.get(id)
      if (job === undefined) continue
      this.#forget(id, job)
      if (job.sent) open.push(id)
    }
    this.#link.changed()
    this.#sendUnsent()
    if (open.length === 0) return
    const gone = new Set(open)
    this.#outbox = this.#outbox.filter((job) => !gone.has(job.id))
    for (let at = 0; at < open.length; at += MAX_BATCH_ITEMS) {
      this.#link.channel()?.send({ type: 'cancel', ids: open.slice(at, at + MAX_BATCH_ITEMS) })
    }
  }

  /** The head opened the pool and said how many open jobs it takes. */
  opened(maxOpenJobs: number | undefined): void {
    this.#maxOpen = maxOpenJobs ?? MAX_OPEN_JOBS_PER_CLIENT
    this.#sendUnsent()
  }

  /** A job's outcome came: its promise settles. */
  settle(outcome: ClientOutcome): void {
    const open = this.#jobs.get(outcome.id)
    if (open === undefined) return
    this.#forget(outcome.id, open)
    this.#link.changed()
    if (this.#unsent.length > 0) this.#sendUnsent()
    if (outcome.ok) this.#resolve(outcome.id, open, outcome.value)
    else
      open.reject(
        OWN_ERRORS.has(outcome.error.name)
          ? errorFromShape(outcome.error)
          : new RemoteJobError(outcome.error, outcome.where),
      )
  }

  /** A result, or the big result its node handed this client before (see ClientResults). */
  #resolve(id: number, open: OpenJob, value: Uint8Array): void {
    const ref = this.#results === undefined ? undefined : decodeBlobRef(value)
    const result = ref === undefined ? value : this.#results?.take(ref)
    if (result !== undefined) open.resolve(result)
    else open.reject(new WorkerLostError(`the result of job ${id} (${ref?.bytes} bytes) never reached this client`))
  }

  /** After a reconnect: every open job is sent again, as the head allows. */
  resend(): void {
    this.#outbox = []
    this.#outboxBytes = 0
    this.#unsent.clear()
    this.#sentOpen = 0
    for (const [id, open] of this.#jobs) {
      open.sent = false
      this.#unsent.push(id)
    }
    this.#sendUnsent()
    this.flush()
  }

  /** Sends the jobs batched so far now, not at the end of the turn. */
  flush(): void {
    this.#batch.now()
  }

  /** The pool closed or the head is gone: every open job rejects with `reason`. */
  fail(reason: Error): void {
    for (const open of this.#jobs.values()) open.reject(reason)
    this.#jobs.clear()
    this.#params?.clear()
    this.#results?.clear()
    this.#unsent.clear()
    this.#sentOpen = 0
  }

  /**
   * Sends waiting jobs while the head holds fewer than MAX_OPEN_JOBS_PER_CLIENT of this
   * client's: past that, submitting goes on in the client and the jobs wait here
   * (backpressure), where the head would refuse them.
   */
  #sendUnsent(): void {
    while (this.#sentOpen < this.#maxOpen && this.#unsent.length > 0) {
      const id = this.#unsent.shift() as number
      const open = this.#jobs.get(id)
      if (open === undefined || open.sent) continue
      open.sent = true
      this.#sentOpen++
      this.#queue(open.job)
    }
  }

  #queue(job: SubmittedJob): void {
    this.#outbox.push(job)
    this.#outboxBytes += job.params.byteLength
    if (this.#outboxBytes >= BATCH_SOFT_BYTES || this.#outbox.length >= MAX_BATCH_ITEMS) this.#batch.now()
    else this.#batch.request()
  }

  #flush(): void {
    const channel = this.#link.channel()
    if (this.#outbox.length === 0 || channel === undefined) return
    const jobs = this.#outbox
    this.#outbox = []
    this.#outboxBytes = 0
    // A frame holds at most MAX_BATCH_ITEMS jobs (a resubmission after a reconnect may hold many more).
    for (let at = 0; at < jobs.length; at += MAX_BATCH_ITEMS) {
      channel.send({ type: 'submit', jobs: jobs.slice(at, at + MAX_BATCH_ITEMS) })
    }
  }

  #forget(id: number, open: OpenJob): void {
    this.#jobs.delete(id)
    if (open.blob !== undefined) this.#params?.release(open.blob)
    if (open.sent) this.#sentOpen--
  }
}

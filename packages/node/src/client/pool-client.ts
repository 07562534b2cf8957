import { logger } from '@libp2p/logger'
import {
  AdminRefusedError,
  BATCH_SOFT_BYTES,
  type ClientMessage,
  type ClientOutcome,
  DEFAULT_UPDATE_LOG_BYTES,
  Deque,
  errorFromShape,
  type HeadToClientMessage,
  MAX_BATCH_ITEMS,
  MAX_OPEN_JOBS_PER_CLIENT,
  type NodeInfo,
  NodeRefusedError,
  PoolClosedError,
  type PoolSettingsWire,
  RemoteJobError,
  type SubmittedJob,
  WorkerLoadError,
  WorkerLostError,
} from '@meshpool/core'
import type { Channel } from '../net/channel.js'
import { ProcessHold } from './process-hold.js'

const log = logger('meshpool:client')

type ClientChannel = Channel<HeadToClientMessage, ClientMessage>

interface OpenJob {
  job: SubmittedJob
  /** Sent to the head on the current connection (the rest wait: see MAX_OPEN_JOBS_PER_CLIENT). */
  sent: boolean
  resolve(value: Uint8Array): void
  reject(err: Error): void
}

interface OpenRequest {
  message: Extract<ClientMessage, { type: 'stats' | 'revoke' | 'nodes' | 'stopNodes' }>
  resolve(reply: HeadToClientMessage): void
  reject(err: Error): void
}

interface LoggedUpdate {
  value: Uint8Array
  waiters: Array<{ resolve(seq: number): void; reject(err: Error): void }>
}

/** Errors that meshpool itself raises keep their class; anything else a worker threw is a RemoteJobError. */
const OWN_ERRORS = new Set([
  WorkerLostError.name,
  WorkerLoadError.name,
  'TimeoutError',
  'AbortError',
  'UnsendableValueError',
])
const RECONNECT_BACKOFF_MS = [100, 200, 500, 1000, 2000]

export interface PoolClientInit {
  worker: string
  init: Uint8Array
  settings: PoolSettingsWire
  /** The bundled worker module, shipped to the nodes through the head. */
  code?: Uint8Array
  /** Lines the pool's workers printed (and notes from the mesh). */
  onOutput?: (lines: string[]) => void
  /** Opens a new channel to the head after the old one broke; none for an in-process head. */
  reconnect?: () => Promise<ClientChannel>
  /** How long to keep trying to reach a head that went away before failing open calls. */
  reconnectTimeoutMs?: number
}

/**
 * The client side of the client protocol: it batches submitted jobs into
 * frames, matches results to their callers, and cancels jobs. Every open job
 * is kept until its result arrives, so when the head restarts the client
 * reconnects, replays its updates and submits its open jobs again: every
 * result still arrives exactly once.
 */
export class PoolClient {
  readonly #init: PoolClientInit
  readonly #jobs = new Map<number, OpenJob>()
  readonly #requests = new Map<number, OpenRequest>()
  #updates: LoggedUpdate[] = []
  #updateBytes = 0
  #channel: ClientChannel | undefined
  #outbox: SubmittedJob[] = []
  #outboxBytes = 0
  /** Open jobs not yet sent, in order: the head holds as many of this client's as it takes. */
  readonly #unsent = new Deque<number>()
  #sentOpen = 0
  /** The head's limit on this client's open jobs (it says in `opened`). */
  #maxOpen = MAX_OPEN_JOBS_PER_CLIENT
  #flushScheduled = false
  #nextJobId = 1
  #nextReqId = 1
  /** Update requests of the current connection, by request id, in order. */
  #updateReqs = new Map<number, LoggedUpdate>()
  #closedReason: Error | undefined
  #everOpened = false
  #watching = false
  /** Updates whose caller still waits for the head to log them. */
  #updatesWaiting = 0
  /** Keeps this process alive while any call waits on the pool (see {@link ProcessHold}). */
  readonly #hold = new ProcessHold()
  /** Told when an open job is leased (0) and when it reports progress; see {@link watch}. */
  onProgress: ((id: number, fraction: number) => void) | undefined

  constructor(init: PoolClientInit) {
    this.#init = init
  }

  /** Opens the pool on the head over a channel. */
  async open(channel: ClientChannel): Promise<void> {
    await this.#attach(channel)
  }

  /** Submits one job; resolves with its encoded result. Returns the job's id with the promise. */
  submit(params: Uint8Array, timeoutMs = 0): { id: number; result: Promise<Uint8Array> } {
    const id = this.#nextJobId++
    if (this.#closedReason !== undefined) return { id, result: Promise.reject(this.#closedReason) }
    const job: SubmittedJob = timeoutMs > 0 ? { id, params, timeoutMs } : { id, params }
    const result = new Promise<Uint8Array>((resolve, reject) =>
      this.#jobs.set(id, { job, sent: false, resolve, reject }),
    )
    this.#unsent.push(id)
    this.#sendUnsent()
    this.#holdWhileOpen()
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
    this.#holdWhileOpen()
    this.#sendUnsent()
    if (open.length === 0) return
    const gone = new Set(open)
    this.#outbox = this.#outbox.filter((job) => !gone.has(job.id))
    for (let at = 0; at < open.length; at += MAX_BATCH_ITEMS) {
      this.#channel?.send({ type: 'cancel', ids: open.slice(at, at + MAX_BATCH_ITEMS) })
    }
  }

  update(value: Uint8Array): Promise<number> {
    if (this.#closedReason !== undefined) return Promise.reject(this.#closedReason)
    const entry: LoggedUpdate = { value, waiters: [] }
    const seq = new Promise<number>((resolve, reject) => entry.waiters.push({ resolve, reject }))
    this.#updates.push(entry)
    this.#updatesWaiting++
    this.#holdWhileOpen()
    this.#updateBytes += value.byteLength
    // Kept for replay to a restarted head, up to the head's own log budget: the oldest go first.
    let drop = 0
    while (this.#updateBytes > DEFAULT_UPDATE_LOG_BYTES && drop < this.#updates.length - 1) {
      this.#updateBytes -= (this.#updates[drop] as LoggedUpdate).value.byteLength
      drop++
    }
    if (drop > 0) this.#updates = this.#updates.slice(drop)
    this.#sendUpdate(entry)
    return seq
  }

  async stats(): Promise<{ workers: number; nodes: number }> {
    const r = await this.#request({ type: 'stats', reqId: this.#nextReqId++ })
    return r.type === 'stats' ? { workers: r.workers, nodes: r.nodes } : { workers: 0, nodes: 0 }
  }

  /** Asks the head to revoke a peer; resolves with whether it had ever joined. `adminKey`: see adminRefusal. */
  async revoke(peerId: string, adminKey?: string): Promise<boolean> {
    const reply = await this.#request({
      type: 'revoke',
      reqId: this.#nextReqId++,
      peerId,
      ...(adminKey === undefined ? {} : { adminKey }),
    })
    if (reply.type === 'revoked' && reply.refused !== undefined)
      throw new AdminRefusedError(`the head refused: ${reply.refused}`)
    return reply.type === 'revoked' && reply.known
  }

  /** Every node of the mesh, as the head sees it. */
  async nodes(): Promise<NodeInfo[]> {
    const reply = await this.#request({ type: 'nodes', reqId: this.#nextReqId++ })
    return reply.type === 'nodes' ? reply.nodes : []
  }

  /** Asks nodes to leave gracefully; resolves with those that were there. */
  async stopNodes(nodeIds: string[], adminKey?: string): Promise<string[]> {
    const reply = await this.#request({
      type: 'stopNodes',
      reqId: this.#nextReqId++,
      nodeIds,
      ...(adminKey === undefined ? {} : { adminKey }),
    })
    if (reply.type === 'stopping' && reply.refused !== undefined)
      throw new AdminRefusedError(`the head refused: ${reply.refused}`)
    return reply.type === 'stopping' ? reply.nodeIds : []
  }

  #request(message: OpenRequest['message']): Promise<HeadToClientMessage> {
    if (this.#closedReason !== undefined) return Promise.reject(this.#closedReason)
    const reply = new Promise<HeadToClientMessage>((resolve, reject) =>
      this.#requests.set(message.reqId, { message, resolve, reject }),
    )
    this.#holdWhileOpen()
    this.#channel?.send(message)
    return reply
  }

  /** Asks the head to say when each job is leased (progress 0), or to stop. */
  watch(on: boolean): void {
    if (this.#watching === on) return
    this.#watching = on
    this.#channel?.send({ type: 'watch', on })
  }

  close(): void {
    this.#flush()
    this.#fail(new PoolClosedError('the pool was closed before this call finished'))
    this.#channel?.close()
  }

  async #attach(channel: ClientChannel): Promise<void> {
    this.#channel = channel
    this.#updateReqs = new Map()
    const opened = new Promise<void>((resolve, reject) => {
      channel.start({
        message: (message) => {
          if (message.type === 'opened') resolve()
          if (message.type === 'refused')
            reject(new NodeRefusedError(`the head refused this client: ${message.message}`))
          this.#onMessage(message)
        },
        close: (reason) => {
          reject(
            new PoolClosedError(`the head closed the connection${reason === undefined ? '' : `: ${reason.message}`}`),
          )
          if (this.#channel === channel) this.#onLost(reason)
        },
      })
    })
    const { worker, init, settings, code } = this.#init
    channel.send({ type: 'open', worker, init, settings, ...(code === undefined ? {} : { code }) })
    await opened
    this.#everOpened = true
  }

  /** After a reconnect: replay the updates, then the open jobs and requests. */
  #resume(): void {
    if (this.#watching) this.#channel?.send({ type: 'watch', on: true })
    for (const entry of this.#updates) this.#sendUpdate(entry)
    this.#outbox = []
    this.#outboxBytes = 0
    this.#unsent.clear()
    this.#sentOpen = 0
    for (const [id, open] of this.#jobs) {
      open.sent = false
      this.#unsent.push(id)
    }
    this.#sendUnsent()
    this.#flush()
    for (const request of this.#requests.values()) this.#channel?.send(request.message)
  }

  #onLost(reason: Error | undefined): void {
    this.#channel = undefined
    const reconnect = this.#init.reconnect
    if (this.#closedReason !== undefined) return
    if (reconnect === undefined || !this.#everOpened) {
      this.#fail(new PoolClosedError(`lost the head${reason === undefined ? '' : `: ${reason.message}`}`))
      return
    }
    log('lost the head (%s); reconnecting', reason?.message ?? 'closed')
    void this.#reconnect(reconnect, reason)
  }

  async #reconnect(reconnect: () => Promise<ClientChannel>, reason: Error | undefined): Promise<void> {
    const deadline = Date.now() + (this.#init.reconnectTimeoutMs ?? 60_000)
    let lastError: Error | undefined = reason
    for (let attempt = 0; this.#closedReason === undefined; attempt++) {
      if (Date.now() > deadline) {
        this.#fail(
          new PoolClosedError(
            `lost the head and could not reach it again within reconnectTimeoutMs: ${lastError?.message ?? 'closed'}`,
          ),
        )
        return
      }
      await new Promise((resolve) =>
        setTimeout(resolve, RECONNECT_BACKOFF_MS[Math.min(attempt, RECONNECT_BACKOFF_MS.length - 1)]),
      )
      if (this.#closedReason !== undefined) return
      try {
        const channel = await reconnect()
        await this.#attach(channel)
        log('reconnected; resubmitting %d open jobs', this.#jobs.size)
        this.#resume()
        return
      } catch (err) {
        lastError = err as Error
        log('reconnect failed: %s', lastError.message)
      }
    }
  }

  #sendUpdate(entry: LoggedUpdate): void {
    if (this.#channel === undefined) return
    const reqId = this.#nextReqId++
    this.#updateReqs.set(reqId, entry)
    this.#channel.send({ type: 'update', reqId, value: entry.value })
  }

  #queue(job: SubmittedJob): void {
    this.#outbox.push(job)
    this.#outboxBytes += job.params.byteLength
    if (this.#outboxBytes >= BATCH_SOFT_BYTES || this.#outbox.length >= MAX_BATCH_ITEMS) this.#flush()
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true
      setImmediate(() => this.#flush())
    }
  }

  #flush(): void {
    this.#flushScheduled = false
    if (this.#outbox.length === 0 || this.#channel === undefined) return
    const jobs = this.#outbox
    this.#outbox = []
    this.#outboxBytes = 0
    // A frame holds at most MAX_BATCH_ITEMS jobs (a resubmission after a reconnect may hold many more).
    for (let at = 0; at < jobs.length; at += MAX_BATCH_ITEMS) {
      this.#channel.send({ type: 'submit', jobs: jobs.slice(at, at + MAX_BATCH_ITEMS) })
    }
  }

  #onMessage(message: HeadToClientMessage): void {
    switch (message.type) {
      case 'opened':
        this.#maxOpen = message.maxOpenJobs ?? MAX_OPEN_JOBS_PER_CLIENT
        this.#sendUnsent()
        return
      case 'results':
        for (const outcome of message.results) this.#settle(outcome)
        return
      case 'updated': {
        const entry = this.#updateReqs.get(message.reqId)
        this.#updateReqs.delete(message.reqId)
        if (entry !== undefined && entry.waiters.length > 0) this.#updatesWaiting--
        for (const waiter of entry?.waiters.splice(0) ?? []) waiter.resolve(message.seq)
        this.#holdWhileOpen()
        return
      }
      case 'stats':
      case 'revoked':
      case 'nodes':
      case 'stopping': {
        const request = this.#requests.get(message.reqId)
        this.#requests.delete(message.reqId)
        this.#holdWhileOpen()
        request?.resolve(message)
        return
      }
      case 'refused':
        this.#fail(new PoolClosedError(`the head refused this client: ${message.message}`))
        this.#channel?.close()
        return
      case 'output':
        this.#init.onOutput?.(message.lines)
        return
      case 'progress':
        for (const { id, fraction } of message.progress) if (this.#jobs.has(id)) this.onProgress?.(id, fraction)
        return
    }
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

  #forget(id: number, open: OpenJob): void {
    this.#jobs.delete(id)
    if (open.sent) this.#sentOpen--
  }

  #settle(outcome: ClientOutcome): void {
    const open = this.#jobs.get(outcome.id)
    if (open === undefined) return
    this.#forget(outcome.id, open)
    this.#holdWhileOpen()
    if (this.#unsent.length > 0) this.#sendUnsent()
    if (outcome.ok) open.resolve(outcome.value)
    else
      open.reject(
        OWN_ERRORS.has(outcome.error.name)
          ? errorFromShape(outcome.error)
          : new RemoteJobError(outcome.error, outcome.where),
      )
  }

  #fail(reason: Error): void {
    if (this.#closedReason !== undefined) return
    this.#closedReason = reason
    for (const open of this.#jobs.values()) open.reject(reason)
    for (const request of this.#requests.values()) request.reject(reason)
    for (const entry of this.#updates) for (const waiter of entry.waiters.splice(0)) waiter.reject(reason)
    this.#jobs.clear()
    this.#unsent.clear()
    this.#sentOpen = 0
    this.#requests.clear()
    this.#updatesWaiting = 0
    this.#holdWhileOpen()
  }

  /**
   * A call that waits on the pool keeps the process alive, whatever else does:
   * with an embedded head, a slot's restart and a job's retry wait on timers
   * that don't hold the process, and a crashed slot is no handle either.
   */
  #holdWhileOpen(): void {
    this.#hold.set(this.#jobs.size + this.#requests.size + this.#updatesWaiting > 0)
  }
}

import {
  BATCH_SOFT_BYTES,
  type ClientMessage,
  type ClientOutcome,
  errorFromShape,
  type HeadToClientMessage,
  PoolClosedError,
  RemoteJobError,
  WorkerLoadError,
  WorkerLostError,
} from '@meshpool/core'
import type { Channel } from './channel.js'

interface Waiter<T> {
  resolve(value: T): void
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
 * The client side of the client protocol: it batches submitted jobs into
 * frames, matches results to their callers, and fails every open call with
 * PoolClosedError when the head goes away.
 */
export class PoolClient {
  readonly #channel: Channel<HeadToClientMessage, ClientMessage>
  readonly #jobs = new Map<number, Waiter<Uint8Array>>()
  readonly #requests = new Map<number, Waiter<HeadToClientMessage>>()
  #outbox: Array<{ id: number; params: Uint8Array }> = []
  #outboxBytes = 0
  #flushScheduled = false
  #nextJobId = 1
  #nextReqId = 1
  #opened: Waiter<number> | undefined
  #closedReason: Error | undefined

  constructor(channel: Channel<HeadToClientMessage, ClientMessage>) {
    this.#channel = channel
  }

  /** Opens the pool on the head. */
  open(worker: string, init: Uint8Array): Promise<number> {
    const opened = new Promise<number>((resolve, reject) => {
      this.#opened = { resolve, reject }
    })
    this.#channel.start({
      message: (message) => this.#onMessage(message),
      close: (reason) => this.#onClose(reason),
    })
    this.#channel.send({ type: 'open', worker, init })
    return opened
  }

  /** Submits one job; resolves with its encoded result. */
  submit(params: Uint8Array): Promise<Uint8Array> {
    if (this.#closedReason !== undefined) return Promise.reject(this.#closedReason)
    const id = this.#nextJobId++
    const done = new Promise<Uint8Array>((resolve, reject) => this.#jobs.set(id, { resolve, reject }))
    this.#outbox.push({ id, params })
    this.#outboxBytes += params.byteLength
    if (this.#outboxBytes >= BATCH_SOFT_BYTES) this.#flush()
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true
      setImmediate(() => this.#flush())
    }
    return done
  }

  update(value: Uint8Array): Promise<number> {
    return this.#request((reqId) => ({ type: 'update', reqId, value })).then((reply) =>
      reply.type === 'updated' ? reply.seq : 0,
    )
  }

  stats(): Promise<{ workers: number; nodes: number }> {
    return this.#request((reqId) => ({ type: 'stats', reqId })).then((reply) =>
      reply.type === 'stats' ? { workers: reply.workers, nodes: reply.nodes } : { workers: 0, nodes: 0 },
    )
  }

  /** Jobs submitted and not yet answered. */
  get inFlight(): number {
    return this.#jobs.size
  }

  close(): void {
    this.#flush()
    this.#onClose(new PoolClosedError('the pool was closed before this job finished'))
    this.#channel.close()
  }

  #request(make: (reqId: number) => ClientMessage): Promise<HeadToClientMessage> {
    if (this.#closedReason !== undefined) return Promise.reject(this.#closedReason)
    const reqId = this.#nextReqId++
    const reply = new Promise<HeadToClientMessage>((resolve, reject) => this.#requests.set(reqId, { resolve, reject }))
    this.#channel.send(make(reqId))
    return reply
  }

  #flush(): void {
    this.#flushScheduled = false
    if (this.#outbox.length === 0 || this.#closedReason !== undefined) return
    const jobs = this.#outbox
    this.#outbox = []
    this.#outboxBytes = 0
    this.#channel.send({ type: 'submit', jobs })
  }

  #onMessage(message: HeadToClientMessage): void {
    switch (message.type) {
      case 'opened':
        this.#opened?.resolve(message.poolId)
        this.#opened = undefined
        return
      case 'results':
        for (const outcome of message.results) this.#settle(outcome)
        return
      case 'updated':
      case 'stats': {
        const waiter = this.#requests.get(message.reqId)
        this.#requests.delete(message.reqId)
        waiter?.resolve(message)
        return
      }
      case 'refused':
        this.#channel.close(new PoolClosedError(`the head refused this client: ${message.message}`))
        return
    }
  }

  #settle(outcome: ClientOutcome): void {
    const waiter = this.#jobs.get(outcome.id)
    if (waiter === undefined) return
    this.#jobs.delete(outcome.id)
    if (outcome.ok) waiter.resolve(outcome.value)
    else
      waiter.reject(
        OWN_ERRORS.has(outcome.error.name)
          ? errorFromShape(outcome.error)
          : new RemoteJobError(outcome.error, outcome.where),
      )
  }

  #onClose(reason: Error | undefined): void {
    if (this.#closedReason !== undefined) return
    this.#closedReason =
      reason instanceof PoolClosedError
        ? reason
        : new PoolClosedError(`lost the connection to the head${reason === undefined ? '' : `: ${reason.message}`}`)
    this.#opened?.reject(this.#closedReason)
    for (const waiter of this.#jobs.values()) waiter.reject(this.#closedReason)
    for (const waiter of this.#requests.values()) waiter.reject(this.#closedReason)
    this.#jobs.clear()
    this.#requests.clear()
  }
}

import { ByteBudgetLog, DEFAULT_UPDATE_LOG_BYTES } from '@meshpool/core'
import type { ClientLink } from './client-link.js'

interface LoggedUpdate {
  value: Uint8Array
  waiters: Array<{ resolve(seq: number): void; reject(err: Error): void }>
}

/**
 * A client's cache updates: each is sent to the head and resolves with the
 * number the head's log gave it; they are kept, up to the head's own log
 * budget (the oldest go first), so that a restarted head gets them again.
 */
export class ClientUpdates {
  readonly #link: ClientLink
  readonly #log = new ByteBudgetLog<LoggedUpdate>(DEFAULT_UPDATE_LOG_BYTES, (entry) => entry.value.byteLength)
  /** Update requests of the current connection, by request id, in order. */
  #byReq = new Map<number, LoggedUpdate>()
  /** Updates whose caller still waits for the head to log them. */
  #waiting = 0

  constructor(link: ClientLink) {
    this.#link = link
  }

  /** Updates whose caller still waits for the head to log them. */
  get waiting(): number {
    return this.#waiting
  }

  /** Sends an update; resolves with its number in the head's log. */
  add(value: Uint8Array): Promise<number> {
    const closed = this.#link.closed()
    if (closed !== undefined) return Promise.reject(closed)
    const entry: LoggedUpdate = { value, waiters: [] }
    const seq = new Promise<number>((resolve, reject) => entry.waiters.push({ resolve, reject }))
    this.#log.push(entry)
    this.#waiting++
    this.#link.changed()
    this.#send(entry)
    return seq
  }

  /** A new connection: the request ids of the old one mean nothing on it. */
  connected(): void {
    this.#byReq = new Map()
  }

  /** After a reconnect: every update kept is sent again, in order. */
  replay(): void {
    for (const entry of this.#log) this.#send(entry)
  }

  /** The head logged an update as number `seq`. */
  logged(reqId: number, seq: number): void {
    const entry = this.#byReq.get(reqId)
    this.#byReq.delete(reqId)
    if (entry !== undefined && entry.waiters.length > 0) this.#waiting--
    for (const waiter of entry?.waiters.splice(0) ?? []) waiter.resolve(seq)
    this.#link.changed()
  }

  /** The pool closed or the head is gone: the callers still waiting reject with `reason`. */
  fail(reason: Error): void {
    for (const entry of this.#log) for (const waiter of entry.waiters.splice(0)) waiter.reject(reason)
    this.#waiting = 0
  }

  #send(entry: LoggedUpdate): void {
    const channel = this.#link.channel()
    if (channel === undefined) return
    const reqId = this.#link.nextReqId()
    this.#byReq.set(reqId, entry)
    channel.send({ type: 'update', reqId, value: entry.value })
  }
}

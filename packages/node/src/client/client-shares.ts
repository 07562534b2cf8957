import { createHash } from 'node:crypto'
import { type ClientMessage, SharedValueError, VALUE_PART_BYTES, valueParts } from '@meshpool/core'
import type { Channel } from '../net/channel.js'
import type { ClientLink } from './client-link.js'

type ClientMessageOut = Extract<ClientMessage, { type: 'share' }>

interface Share {
  bytes: Uint8Array
  /** Callers waiting for the head to hold it. */
  waiters: Array<{ resolve: () => void; reject: (err: Error) => void }>
}

/**
 * A pool's shared values (pool.share): each sent to the head once, and kept
 * here by hash while the pool holds it, so that after a reconnect (or on a
 * standby that took over) the head gets every one again before the jobs that
 * refer to them.
 */
export class ClientShares {
  readonly #link: ClientLink
  readonly #held = new Map<string, Share>()
  /** Share requests of the current connection, by request id. */
  #byReq = new Map<number, string>()

  constructor(link: ClientLink) {
    this.#link = link
  }

  /** Shares waiting for the head to hold them. */
  get waiting(): number {
    let n = 0
    for (const share of this.#held.values()) if (share.waiters.length > 0) n++
    return n
  }

  /** Sends a value's bytes to the head; resolves with their hash once the head holds them. */
  add(bytes: Uint8Array): Promise<string> {
    const closed = this.#link.closed()
    if (closed !== undefined) return Promise.reject(closed)
    const hash = createHash('sha256').update(bytes).digest('hex')
    let share = this.#held.get(hash)
    const known = share !== undefined && share.waiters.length === 0
    if (known) return Promise.resolve(hash)
    if (share === undefined) {
      share = { bytes, waiters: [] }
      this.#held.set(hash, share)
      void this.#send(hash, bytes)
    }
    const held = new Promise<void>((resolve, reject) => share.waiters.push({ resolve, reject }))
    this.#link.changed()
    return held.then(() => hash)
  }

  /** Whether the pool holds a value by this hash. */
  has(hash: string): boolean {
    return this.#held.has(hash)
  }

  /** The pool lets go of a value: the head frees it (and the nodes their copies) once no pool holds it. */
  drop(hash: string): void {
    if (!this.#held.delete(hash)) return
    this.#link.channel()?.send({ type: 'unshare', hashes: [hash] })
  }

  /** A new connection: the request ids of the old one mean nothing on it. */
  connected(): void {
    this.#byReq = new Map()
  }

  /** After a reconnect: every value held is shared again; resolves once all of them are on their way, before the jobs go. */
  async replay(): Promise<void> {
    await Promise.all([...this.#held].map(([hash, share]) => this.#send(hash, share.bytes)))
  }

  /** The head's answer to a share. */
  answered(reqId: number, hash: string | undefined, refused: string | undefined): void {
    const asked = this.#byReq.get(reqId)
    this.#byReq.delete(reqId)
    const share = asked === undefined ? undefined : this.#held.get(asked)
    if (asked === undefined || share === undefined) return
    const failed =
      refused !== undefined
        ? new SharedValueError(`the head refused the shared value: ${refused}`)
        : hash !== asked
          ? new SharedValueError(`the head named the shared value ${hash?.slice(0, 12)}…, not ${asked.slice(0, 12)}…`)
          : undefined
    if (failed !== undefined) this.#held.delete(asked)
    for (const waiter of share.waiters.splice(0)) {
      if (failed === undefined) waiter.resolve()
      else waiter.reject(failed)
    }
    this.#link.changed()
  }

  /** The pool closed or the head is gone: the callers still waiting reject with `reason`. */
  fail(reason: Error): void {
    for (const share of this.#held.values()) for (const waiter of share.waiters.splice(0)) waiter.reject(reason)
  }

  /** Sends a value; a big one in parts, each once the one before has gone to the transport. */
  async #send(hash: string, bytes: Uint8Array): Promise<void> {
    const channel = this.#link.channel()
    if (channel === undefined) return
    const reqId = this.#link.nextReqId()
    this.#byReq.set(reqId, hash)
    if (bytes.byteLength <= VALUE_PART_BYTES) return channel.send({ type: 'share', reqId, value: bytes })
    await this.#sendParts(channel, reqId, bytes)
  }

  async #sendParts(channel: Channel<unknown, ClientMessageOut>, reqId: number, bytes: Uint8Array): Promise<void> {
    for (const { data, offset, total } of valueParts(bytes)) {
      // A reconnect sends it again on the new channel.
      if (this.#link.channel() !== channel || this.#link.closed() !== undefined) return
      channel.send({ type: 'share', reqId, value: data, offset, total })
      await channel.whenSent()
    }
  }
}

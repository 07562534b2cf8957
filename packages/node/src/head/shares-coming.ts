import { type ClientMessage, ValueAssembly } from '@meshpool/core'

type ShareMessage = Extract<ClientMessage, { type: 'share' }>

/** What a share message came to: the whole value, a refusal, or nothing yet (more parts to come). */
export type ShareArrival = { whole: Uint8Array } | { refusedBytes: number } | undefined

/**
 * Big shared values on their way to the head in parts, one at a time per
 * pool. Each is given its whole size of room when its first part comes, and
 * the values still coming count against the room of the next, so no set of
 * clients can reserve more than the head's budget. A part out of order throws
 * FrameError (the caller cuts that client off).
 */
export class SharesComing {
  readonly #coming = new Map<number, { reqId: number; total: number; assembly: ValueAssembly }>()

  /** A share or a part of one, from the pool `poolId`; `room`: what the head may still hold. */
  take(poolId: number, message: ShareMessage, room: number): ShareArrival {
    const { reqId, value, offset = 0, total } = message
    if (total === undefined) return { whole: value }
    if (offset === 0) {
      this.#coming.delete(poolId)
      let left = room
      for (const other of this.#coming.values()) left -= other.total
      if (total > left) return { refusedBytes: total }
      this.#coming.set(poolId, { reqId, total, assembly: new ValueAssembly(total, left) })
    }
    const coming = this.#coming.get(poolId)
    if (coming === undefined || coming.reqId !== reqId) return undefined // the rest of one refused or replaced
    let whole: Uint8Array | undefined
    try {
      whole = coming.assembly.add({ data: value, offset, total })
    } catch (err) {
      this.#coming.delete(poolId)
      throw err
    }
    if (whole === undefined) return undefined
    this.#coming.delete(poolId)
    return { whole }
  }

  /** The pool closed: what it was sending is dropped. */
  drop(poolId: number): void {
    this.#coming.delete(poolId)
  }
}

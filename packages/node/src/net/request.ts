import type { Channel } from './channel.js'

export interface RequestOnce<In, Out, R> {
  /** The one request. */
  request: Out
  /**
   * What the caller makes of a reply: undefined to wait for another (a reply to
   * something else), a value to resolve with; it may throw to reject.
   */
  answer: (reply: In) => R | undefined
  /** Why the request failed when the other side closes before answering. */
  closedBefore: string
  /** Rejects with the signal's reason when it aborts first. */
  signal?: AbortSignal
}

/**
 * One request and its answer over a channel of their own (a stream opened for
 * them): sends the request, settles on the first reply `answer` accepts, and
 * closes the channel once settled, whichever way.
 */
export function requestOnce<In, Out, R>(channel: Channel<In, Out>, init: RequestOnce<In, Out, R>): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    let settled = false
    const settle = (done: () => void): void => {
      if (settled) return
      settled = true
      init.signal?.removeEventListener('abort', onAbort)
      done()
      channel.close()
    }
    const onAbort = (): void => settle(() => reject(init.signal?.reason ?? new Error('aborted')))
    if (init.signal?.aborted === true) return onAbort()
    init.signal?.addEventListener('abort', onAbort, { once: true })
    channel.start({
      message: (reply) => {
        if (settled) return
        let value: R | undefined
        try {
          value = init.answer(reply)
        } catch (err) {
          return settle(() => reject(err))
        }
        if (value !== undefined) settle(() => resolve(value))
      },
      close: (reason) => settle(() => reject(reason ?? new Error(init.closedBefore))),
    })
    channel.send(init.request)
  })
}

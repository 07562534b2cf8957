import { TickFlush } from '@meshpool/core'
import { type Channel, type ChannelHandlers, safely } from './channel.js'

/** Two connected in-memory channels; messages are delivered asynchronously, in order. */
export function channelPair<A, B>(): [Channel<A, B>, Channel<B, A>] {
  const left = new MemoryChannel<A, B>()
  const right = new MemoryChannel<B, A>()
  left.peer = right
  right.peer = left
  return [left, right]
}

class MemoryChannel<In, Out> implements Channel<In, Out> {
  peer!: MemoryChannel<Out, In>
  #handlers: ChannelHandlers<In> | undefined
  #inbox: In[] = []
  #closed = false
  /** Messages sent in one turn are delivered together at its end, in order. */
  readonly #delivery = new TickFlush(() => {
    const batch = this.#inbox
    this.#inbox = []
    for (const message of batch) {
      if (this.#closed) return
      safely(() => this.#handlers?.message(message))
    }
  })

  start(handlers: ChannelHandlers<In>): void {
    this.#handlers = handlers
    this.#delivery.request()
  }

  readonly queuedBytes = 0

  send(message: Out): void {
    if (this.#closed) return
    this.peer.#deliver(message)
  }

  whenSent(): Promise<void> {
    return Promise.resolve()
  }

  close(reason?: Error): void {
    if (this.#closed) return
    this.#closed = true
    queueMicrotask(() => {
      this.#handlers?.close(reason)
      this.peer.close(reason)
    })
  }

  #deliver(message: In): void {
    if (this.#closed) return
    this.#inbox.push(message)
    if (this.#handlers !== undefined) this.#delivery.request()
  }
}

import type { Logger, Stream } from '@libp2p/interface'
import { type HeadToNodeMessage, inbound, type NodeMessage } from '@meshpool/core'
import { type Channel, StreamChannel } from '../net/channel.js'
import type { NodeAgent } from './agent.js'

/** Waits between reconnect attempts, the last repeating. */
const RECONNECT_BACKOFF_MS = [100, 250, 500, 1000, 2000]

export interface HeadReconnectInit {
  agent: NodeAgent
  /** Opens a fresh work stream to the head. */
  dial: () => Promise<Stream>
  /** Told when the connection comes up (the head welcomed the node) and when it drops. */
  onStatus?: (status: 'connected' | 'disconnected', detail?: string) => void
  log: Logger
  /** Wraps each new channel (a mesh with several heads watches for a standby's redirect and a frozen head). */
  watch?: (channel: Channel<HeadToNodeMessage, NodeMessage>) => Channel<HeadToNodeMessage, NodeMessage>
}

/**
 * Keeps a node connected to its head: the agent serves the head on each new
 * stream, and when one drops the head is dialed again, backing off, until it
 * answers or the node stops.
 */
export class HeadReconnect {
  readonly #init: HeadReconnectInit
  #started = false
  #stopped = false
  #backoff: { timer: NodeJS.Timeout; wake: () => void } | undefined

  constructor(init: HeadReconnectInit) {
    this.#init = init
  }

  /** Serves the head on `first`, the stream the node joined with, and on each one after it. */
  start(first: Stream): void {
    if (this.#started) return
    this.#started = true
    void this.#serve(first)
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#backoff?.timer)
    this.#backoff?.wake()
  }

  async #serve(first: Stream): Promise<void> {
    const { agent, onStatus } = this.#init
    let stream: Stream | undefined = first
    while (stream !== undefined && !this.#stopped) {
      const channel = new StreamChannel<HeadToNodeMessage, NodeMessage>(stream, inbound.node)
      const connected = agent.connect(this.#init.watch?.(channel) ?? channel)
      void agent.welcomed().then(
        () => onStatus?.('connected'),
        () => {},
      )
      const reason = await connected
      if (this.#stopped) return
      onStatus?.('disconnected', reason?.message)
      stream = await this.#redial()
    }
  }

  /** Dials the head until it answers; undefined if the node stops first. */
  async #redial(): Promise<Stream | undefined> {
    for (let attempt = 0; !this.#stopped; attempt++) {
      await this.#wait(RECONNECT_BACKOFF_MS[Math.min(attempt, RECONNECT_BACKOFF_MS.length - 1)] as number)
      if (this.#stopped) return undefined
      try {
        return await this.#init.dial()
      } catch (err) {
        this.#init.log('reconnect failed: %s', (err as Error).message)
      }
    }
    return undefined
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.#backoff = undefined
        resolve()
      }
      this.#backoff = { timer: setTimeout(wake, ms), wake }
    })
  }
}

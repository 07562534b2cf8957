import { type ClientMessage, type HeadToClientMessage, NodeRefusedError, PoolClosedError } from '@meshpool/core'
import { StandbyRedirect } from '../net/head-watch.js'
import type { ClientChannel } from './client-link.js'

const RECONNECT_BACKOFF_MS = [100, 200, 500, 1000, 2000]

export interface HeadSessionInit {
  /** What opens the pool on each new connection. */
  open: Extract<ClientMessage, { type: 'open' }>
  /** Opens a new channel to the head after the old one broke; none for an in-process head. */
  reconnect?: () => Promise<ClientChannel>
  /** How long to keep trying to reach a head that went away before giving up. @default 60000 */
  reconnectTimeoutMs?: number
  log: (line: string) => void
  /** Whether the pool was closed: a lost connection is then not opened again. */
  closed(): boolean
  /** A new connection is about to open the pool. */
  onConnect(): void
  /** Every message from the head, on the connection of now. */
  onMessage(message: HeadToClientMessage): void
  /** The pool is open again on a new connection: send again what the old one lost. */
  onResumed(): void
  /** The head is gone for good (or was never reached): the pool fails with `reason`. */
  onGone(reason: Error): void
}

/**
 * A client's connection to its head: it opens the pool on a channel, and
 * when the channel breaks after the pool was open it dials again (with
 * backoff, up to reconnectTimeoutMs) and opens the pool anew.
 */
export class HeadSession {
  readonly #init: HeadSessionInit
  #channel: ClientChannel | undefined
  #everOpened = false
  /** A reconnect loop is running: a channel of its that closes is its own to retry, not a new loss. */
  #reconnecting = false

  constructor(init: HeadSessionInit) {
    this.#init = init
  }

  /** The channel of now; undefined while reconnecting. */
  get channel(): ClientChannel | undefined {
    return this.#channel
  }

  /** Opens the pool on the head over a channel; resolves once the head says it is open. */
  async open(channel: ClientChannel): Promise<void> {
    this.#channel = channel
    this.#init.onConnect()
    const opened = new Promise<void>((resolve, reject) => {
      channel.start({
        message: (message) => {
          if (message.type === 'opened') resolve()
          if (message.type === 'refused')
            reject(new NodeRefusedError(`the head refused this client: ${message.message}`))
          this.#init.onMessage(message)
        },
        close: (reason) => {
          reject(
            reason instanceof StandbyRedirect
              ? reason
              : new PoolClosedError(
                  `the head closed the connection${reason === undefined ? '' : `: ${reason.message}`}`,
                ),
          )
          if (this.#channel === channel) this.#onLost(reason)
        },
      })
    })
    channel.send(this.#init.open)
    await opened
    this.#everOpened = true
  }

  close(): void {
    this.#channel?.close()
  }

  #onLost(reason: Error | undefined): void {
    this.#channel = undefined
    const { reconnect } = this.#init
    if (this.#init.closed() || this.#reconnecting) return
    // A standby at the first open: whoever opens the pool tries the active head next (openOnActiveHead).
    if (reason instanceof StandbyRedirect && !this.#everOpened) return
    if (reconnect === undefined || !this.#everOpened) {
      this.#init.onGone(new PoolClosedError(`lost the head${reason === undefined ? '' : `: ${reason.message}`}`))
      return
    }
    this.#init.log(`lost the head (${reason?.message ?? 'closed'}); reconnecting`)
    this.#reconnecting = true
    void this.#reconnect(reconnect, reason)
  }

  async #reconnect(reconnect: () => Promise<ClientChannel>, reason: Error | undefined): Promise<void> {
    const deadline = Date.now() + (this.#init.reconnectTimeoutMs ?? 60_000)
    let lastError: Error | undefined = reason
    for (let attempt = 0; !this.#init.closed(); attempt++) {
      if (Date.now() > deadline) {
        this.#reconnecting = false
        this.#init.onGone(
          new PoolClosedError(
            `lost the head and could not reach it again within reconnectTimeoutMs: ${lastError?.message ?? 'closed'}`,
          ),
        )
        return
      }
      await new Promise((resolve) =>
        setTimeout(resolve, RECONNECT_BACKOFF_MS[Math.min(attempt, RECONNECT_BACKOFF_MS.length - 1)]),
      )
      if (this.#init.closed()) return
      try {
        await this.open(await reconnect())
        // A channel that closed right after it opened is this loop's to retry.
        if (this.#channel === undefined) throw new PoolClosedError('the head closed the connection as it opened')
        this.#reconnecting = false
        this.#init.onResumed()
        return
      } catch (err) {
        lastError = err as Error
        this.#init.log(`reconnect failed: ${lastError.message}`)
        // A standby named the active head: dial it at once, not after a longer wait.
        if (err instanceof StandbyRedirect) attempt = -1
      }
    }
  }
}

import type { Channel, ChannelHandlers } from './channel.js'

/** How often a peer of a mesh with several heads pings the head it is on. */
export const HEAD_PING_EVERY_MS = 500
/**
 * A head that has answered no ping for this long is taken as frozen, and the
 * peer moves to another head. Well above a busy head's pauses, well below the
 * seconds a TCP timeout would take.
 */
export const HEAD_SILENT_MS = 3000

/** The reason a channel to a standby head ends: the peer dials the active head it names (if any) next. */
export class StandbyRedirect extends Error {
  override readonly name = 'StandbyRedirect'
  /** The active head's address, as the standby knows it. */
  readonly active: string | undefined

  constructor(head: string, active: string | undefined) {
    super(
      `the head at ${head} is a standby${active === undefined || active === '' ? ' and knows no active head yet' : `; the active head is ${active}`}`,
    )
    this.active = active === '' ? undefined : active
  }
}

export interface HeadWatchInit {
  /** The head this channel goes to (for messages). */
  head: string
  /** Pings the head (libp2p ping: answered by the head's event loop, so a frozen head answers none). */
  ping?: (signal: AbortSignal) => Promise<unknown>
  /** Told when the head turns out to be a standby. */
  onStandby?: (redirect: StandbyRedirect) => void
  everyMs?: number
  silentMs?: number
}

/**
 * A peer's channel to a head of a mesh with several heads. It ends when the
 * head says it is a standby (a `standby` frame) or when the head has answered
 * no ping for `silentMs` (it is frozen or gone); the peer then dials the next
 * head. Everything else passes through as it is.
 */
export class HeadWatch<In extends { type: string }, Out> implements Channel<In, Out> {
  readonly #inner: Channel<In, Out>
  readonly #init: HeadWatchInit
  #timer: NodeJS.Timeout | undefined
  #lastAnswer = Date.now()
  #closed = false

  constructor(inner: Channel<In, Out>, init: HeadWatchInit) {
    this.#inner = inner
    this.#init = init
  }

  get queuedBytes(): number {
    return this.#inner.queuedBytes
  }

  whenSent(): Promise<void> {
    return this.#inner.whenSent()
  }

  start(handlers: ChannelHandlers<In>): void {
    this.#inner.start({
      message: (message) => {
        this.#lastAnswer = Date.now()
        if (message.type === 'standby') {
          const active = (message as { active?: string }).active
          const redirect = new StandbyRedirect(this.#init.head, active)
          this.#init.onStandby?.(redirect)
          this.close(redirect)
          return
        }
        handlers.message(message)
      },
      close: (reason) => {
        this.#closed = true
        clearTimeout(this.#timer)
        handlers.close(reason)
      },
    })
    if (this.#init.ping !== undefined) this.#schedule()
  }

  send(message: Out): void {
    this.#inner.send(message)
  }

  close(reason?: Error): void {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#inner.close(reason)
  }

  #schedule(): void {
    const everyMs = this.#init.everyMs ?? HEAD_PING_EVERY_MS
    const silentMs = this.#init.silentMs ?? HEAD_SILENT_MS
    const due = Date.now() + everyMs
    this.#timer = setTimeout(() => {
      if (this.#closed) return
      // A timer far behind its time means this process stalled (frozen, a long GC): the head's answers may be unread.
      const stalled = Date.now() - due > everyMs
      if (!stalled && Date.now() - this.#lastAnswer > silentMs) {
        this.close(new Error(`the head at ${this.#init.head} answered no ping for ${silentMs} ms`))
        return
      }
      this.#init.ping?.(AbortSignal.timeout(silentMs)).then(
        () => {
          this.#lastAnswer = Date.now()
        },
        () => {},
      )
      this.#schedule()
    }, everyMs)
    this.#timer.unref()
  }
}

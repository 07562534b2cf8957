/** How often the heads of a mesh tell each other their state. */
export const HEADS_HEARTBEAT_MS = 200
/**
 * A standby that has heard no active head for this long takes over. Five
 * heartbeats: a busy head's pause doesn't trigger it, and the first job runs
 * again on the standby well within 2 s of the active head's death.
 */
export const HEADS_LEASE_MS = 1000

/** What a head says of itself to the other heads (the `state` frame without its proof). */
export interface HeadState {
  term: number
  active: boolean
  since: number
  takeovers: number
  addrs: string[]
}

export interface HeadRoleInit {
  /** This head's peer id: it breaks a tie between two active heads of one term. */
  peerId: string
  /** Starts as the standby (`meshpool head --standby`), else active. */
  standby: boolean
  /** Where nodes and clients reach this head. */
  addrs: () => string[]
  now?: () => number
  leaseMs?: number
  /** Told when this head becomes active or standby. */
  onChange?: (active: boolean, why: string) => void
}

/**
 * Which head of a mesh is active: one at a time. A standby holds a lease
 * that each word from an active head renews; once it runs out, the standby
 * takes over with a higher term. An active head that hears of another
 * active head with a higher term (or the same term and a lower peer id)
 * steps down and becomes a standby. Pure logic: time comes from `now`.
 */
export class HeadRole {
  readonly #init: HeadRoleInit
  readonly #now: () => number
  #active: boolean
  #term: number
  #since: number
  #takeovers = 0
  /** When an active head was last heard from; undefined until one is (a standby that never saw one waits). */
  #leaseFrom: number | undefined
  /** The active head's addresses, as it last gave them. */
  #activeAddrs: string[] = []
  #activePeer: string | undefined
  /** The last tick: one long after it means this process stalled (frozen, a long GC), not the active head. */
  #lastTick: number | undefined

  constructor(init: HeadRoleInit) {
    this.#init = init
    this.#now = init.now ?? Date.now
    this.#active = !init.standby
    this.#term = init.standby ? 0 : 1
    this.#since = this.#now()
  }

  get active(): boolean {
    return this.#active
  }

  /** Where nodes and clients should go: this head when active, else the active head it knows of (or none). */
  get activeAddress(): string | undefined {
    return this.#active ? this.#init.addrs()[0] : this.#activeAddrs[0]
  }

  /** The active head's peer id: this head's when active. */
  get activePeer(): string | undefined {
    return this.#active ? this.#init.peerId : this.#activePeer
  }

  state(): HeadState {
    return {
      term: this.#term,
      active: this.#active,
      since: this.#since,
      takeovers: this.#takeovers,
      addrs: this.#init.addrs(),
    }
  }

  /** Another head of the mesh (`peerId`) said its state. */
  heard(peerId: string, state: HeadState): void {
    this.#takeovers = Math.max(this.#takeovers, state.takeovers)
    if (!state.active) {
      this.#term = Math.max(this.#term, state.term)
      return
    }
    if (this.#active) {
      const wins = state.term > this.#term || (state.term === this.#term && peerId < this.#init.peerId)
      if (!wins) return
      this.#become(false, `the head ${peerId} is active (term ${state.term}): this head steps down to standby`)
    }
    this.#term = Math.max(this.#term, state.term)
    this.#leaseFrom = this.#now()
    this.#activeAddrs = state.addrs
    this.#activePeer = peerId
  }

  /** Call often (every heartbeat): a standby whose lease ran out takes over. */
  tick(): void {
    const now = this.#now()
    // After a stall of this process, what the active head sent meanwhile is still unread: wait a tick.
    const stalled = this.#lastTick !== undefined && now - this.#lastTick > 2 * HEADS_HEARTBEAT_MS
    this.#lastTick = now
    if (this.#active || this.#leaseFrom === undefined || stalled) return
    const silent = now - this.#leaseFrom
    if (silent <= (this.#init.leaseMs ?? HEADS_LEASE_MS)) return
    this.#term += 1
    this.#takeovers += 1
    this.#activeAddrs = []
    this.#activePeer = undefined
    this.#become(true, `the active head said nothing for ${silent} ms: this head takes over (term ${this.#term})`)
  }

  #become(active: boolean, why: string): void {
    this.#active = active
    this.#since = this.#now()
    this.#init.onChange?.(active, why)
  }
}

/** How often the heads of a mesh tell each other their state. */
export const HEADS_HEARTBEAT_MS = 200
/**
 * A standby that has heard no active head for this long takes over. Five
 * heartbeats: a busy head's pause doesn't trigger it, and the first job runs
 * again on the standby well within 2 s of the active head's death.
 */
export const HEADS_LEASE_MS = 1000
/**
 * How long a node that came to a standby counts toward its takeover. Above
 * the 2.5 s a node spends on a frozen head's address before it comes back
 * (the probe's timeout in net/dial.ts), so a node that bounces between a
 * frozen head and the standby keeps counting.
 */
export const KNOCK_WINDOW_MS = 3000
/**
 * After this long without a word from the active head, one node that came is
 * enough for a takeover: the head died with some of its nodes (a machine that
 * ran both), and waiting for a majority that can't come would leave the mesh
 * with no head at all. Heads cut off from each other only still never see a
 * node come.
 */
export const ANY_NODE_AFTER_MS = 10_000
/** Most nodes a standby remembers having come to it (the oldest are forgotten first). */
const MAX_KNOCKS = 10_000

/** What a head says of itself to the other heads (the `state` frame without its proof). */
export interface HeadState {
  term: number
  active: boolean
  since: number
  takeovers: number
  addrs: string[]
  /** Nodes the head holds while active (its own local slots not counted); 0 while standby. */
  nodes: number
}

export interface HeadRoleInit {
  /** This head's peer id: it breaks a tie between two active heads of one term. */
  peerId: string
  /** Starts as the standby (`meshpool head --standby`), else active. */
  standby: boolean
  /** Where nodes and clients reach this head. */
  addrs: () => string[]
  /** How many nodes this head holds (not its own local slots): said to the other heads while active. */
  nodes?: () => number
  now?: () => number
  leaseMs?: number
  /** Told when this head becomes active or standby. */
  onChange?: (active: boolean, why: string) => void
  /** Told, once per lapse, when the lease ran out but too few nodes came to this standby to take over. */
  onNote?: (line: string) => void
}

/**
 * Which head of a mesh is active: one at a time. A standby holds a lease
 * that each word from an active head renews. The split rule, in a sentence:
 * a standby takes over only when the active head has said nothing for the
 * lease and more than half of the nodes that head last said it held have
 * come to the standby in the last few seconds (none needed if it held none;
 * one, once the silence has lasted {@link ANY_NODE_AFTER_MS}).
 * A node comes to the standby only when it lost its head, so heads cut off
 * from each other but not from the nodes leave the nodes where they are, and
 * the standby stays standby. A standby that takes over does so with a higher
 * term; an active head that hears of another active head with a higher term
 * (or the same term and a lower peer id) steps down and becomes a standby.
 * Pure logic: time comes from `now`.
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
  /** Nodes the active head last said it held: more than half of them must come here for a takeover. */
  #lastNodes = 0
  /** Nodes that came to this standby, with when each came last, oldest first. */
  readonly #knocks = new Map<string, number>()
  /** The lease ran out without enough nodes here, and the note saying so is out (until the next word from an active head). */
  #heldOff = false

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
      nodes: this.#active ? (this.#init.nodes?.() ?? 0) : 0,
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
    this.#lastNodes = state.nodes
    if (this.#heldOff) this.#init.onNote?.(`the active head ${peerId} is heard again: this head stays its standby`)
    this.#heldOff = false
  }

  /**
   * A node came to this head (dialed it to join): on a standby it counts
   * toward a takeover, which may happen now. Says whether this head is
   * active, so that the node is served rather than sent away.
   */
  knocked(nodeId: string): boolean {
    if (this.#active) return true
    this.#knocks.delete(nodeId)
    this.#knocks.set(nodeId, this.#now())
    if (this.#knocks.size > MAX_KNOCKS) this.#knocks.delete(this.#knocks.keys().next().value as string)
    // Not a tick: a stall of this process is for the timer's tick to see (and wait out) first.
    const now = this.#now()
    if (this.#lastTick !== undefined && now - this.#lastTick <= 2 * HEADS_HEARTBEAT_MS) this.#takeOverIfDue(now)
    return this.#active
  }

  /** Call often (every heartbeat): a standby whose lease ran out takes over. */
  tick(): void {
    const now = this.#now()
    // After a stall of this process, what the active head sent meanwhile is still unread: wait a tick.
    const stalled = this.#lastTick !== undefined && now - this.#lastTick > 2 * HEADS_HEARTBEAT_MS
    this.#lastTick = now
    if (!stalled) this.#takeOverIfDue(now)
  }

  /** A standby whose lease ran out takes over, if enough nodes came (see the class comment). */
  #takeOverIfDue(now: number): void {
    if (this.#active || this.#leaseFrom === undefined) return
    const silent = now - this.#leaseFrom
    if (silent <= (this.#init.leaseMs ?? HEADS_LEASE_MS)) return
    const came = this.#knocksSince(now - KNOCK_WINDOW_MS)
    const needed = this.#lastNodes === 0 ? 0 : silent > ANY_NODE_AFTER_MS ? 1 : Math.floor(this.#lastNodes / 2) + 1
    if (came < needed) {
      if (!this.#heldOff) {
        this.#heldOff = true
        this.#init.onNote?.(
          `the active head said nothing for ${silent} ms, but only ${came} of the ${this.#lastNodes} nodes it held came here: this head stays standby (the heads lost sight of each other, not of the nodes), and becomes active only once more than half of them do (or one, after ${ANY_NODE_AFTER_MS / 1000} s of silence)`,
        )
      }
      return
    }
    this.#knocks.clear()
    this.#term += 1
    this.#takeovers += 1
    this.#activeAddrs = []
    this.#activePeer = undefined
    this.#become(
      true,
      `the active head said nothing for ${silent} ms: this head takes over (term ${this.#term}); ${this.#lastNodes === 0 ? 'it held no nodes' : `${came} of the ${this.#lastNodes} nodes it held came here`}`,
    )
  }

  /** How many nodes came here since `from`; older ones are forgotten. */
  #knocksSince(from: number): number {
    for (const [nodeId, at] of this.#knocks) {
      if (at >= from) break
      this.#knocks.delete(nodeId)
    }
    return this.#knocks.size
  }

  #become(active: boolean, why: string): void {
    this.#active = active
    this.#since = this.#now()
    this.#init.onChange?.(active, why)
  }
}

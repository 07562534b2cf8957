/** An inbound connection still in its handshake (the pool key check, then Noise). */
export interface PendingConnection {
  /** The IP address it came from. */
  readonly ip: string
  /** Drops the connection. */
  abort(err: Error): void
}

export interface HandshakeGateInit {
  /** Handshakes in progress at once, from everyone. */
  maxPending: number
  /** Handshakes in progress at once from one IP address. */
  maxPendingPerIp: number
}

/** Why a connection was dropped to make room, for the peer's log. */
export class HandshakeEvictedError extends Error {
  static override readonly name = 'HandshakeEvictedError'
  override readonly name = 'HandshakeEvictedError'
}

/**
 * Keeps connections that have not finished their handshake from locking
 * members out. A fresh connection is never refused for room: when its IP
 * address already has `maxPendingPerIp` handshakes in progress, the oldest of
 * those is dropped; when `maxPending` are in progress in all, the oldest of
 * the address with the most is dropped. Sockets an outsider opens and leaves
 * idle are the oldest, so they go first, and an outsider's flood only ever
 * pushes out its own connections before anyone else's. (A deadline on the
 * whole handshake, the upgrader's, drops the ones that trickle.)
 */
export class HandshakeGate {
  readonly #maxPending: number
  readonly #maxPendingPerIp: number
  /** Per IP address, its pending connections, oldest first. */
  readonly #byIp = new Map<string, PendingConnection[]>()
  #pending = 0

  constructor(init: HandshakeGateInit) {
    this.#maxPending = init.maxPending
    this.#maxPendingPerIp = init.maxPendingPerIp
  }

  /** Handshakes in progress. */
  get pending(): number {
    return this.#pending
  }

  /** A connection starts its handshake; may drop older ones to make room. */
  admit(connection: PendingConnection): void {
    const fromIp = this.#byIp.get(connection.ip)
    if (fromIp !== undefined && fromIp.length >= this.#maxPendingPerIp) {
      this.#evictOldest(fromIp, `over ${this.#maxPendingPerIp} handshakes in progress from ${connection.ip}`)
    } else if (this.#pending >= this.#maxPending) {
      const busiest = this.#busiest()
      if (busiest !== undefined) this.#evictOldest(busiest, `over ${this.#maxPending} handshakes in progress`)
    }
    const list = this.#byIp.get(connection.ip)
    if (list === undefined) this.#byIp.set(connection.ip, [connection])
    else list.push(connection)
    this.#pending++
  }

  /** The connection finished its handshake, failed or closed: it no longer counts. Idempotent. */
  done(connection: PendingConnection): void {
    const list = this.#byIp.get(connection.ip)
    const at = list?.indexOf(connection) ?? -1
    if (list === undefined || at < 0) return
    list.splice(at, 1)
    this.#pending--
    if (list.length === 0) this.#byIp.delete(connection.ip)
  }

  #busiest(): PendingConnection[] | undefined {
    let busiest: PendingConnection[] | undefined
    for (const list of this.#byIp.values()) if (busiest === undefined || list.length > busiest.length) busiest = list
    return busiest
  }

  #evictOldest(list: PendingConnection[], why: string): void {
    const oldest = list[0]
    if (oldest === undefined) return
    this.done(oldest)
    oldest.abort(new HandshakeEvictedError(`dropped a connection still in its handshake: ${why}`))
  }
}

import type { Logger } from '@libp2p/interface'
import type { PeerInfo } from '@meshpool/core'
import { multiaddr } from '@multiformats/multiaddr'
import type { MeshPeer } from '../net/peer.js'

/** How many other nodes a node keeps connections to, so that gossip spreads node to node. @default 4 */
const MESH_NEIGHBOURS = 4
/** Least time between two requests to the head for more neighbours. */
const ASK_AGAIN_MS = 2000
/** A node that could not be reached is not dialed again for this long. */
const UNREACHABLE_MS = 60_000

/**
 * A node's connections to other nodes (not the head): it dials some of those
 * the head names until it has {@link MESH_NEIGHBOURS}, and asks the head for
 * more when neighbours leave. Gossipsub builds its mesh over these
 * connections, so an update reaches most nodes through other nodes and the
 * head sends each one to a few peers only.
 */
export class Neighbours {
  readonly #peer: MeshPeer
  /** The mesh's heads: never counted as neighbours. */
  readonly #heads: ReadonlySet<string>
  readonly #ask: () => void
  readonly #target: number
  readonly #dialing = new Set<string>()
  readonly #unreachable = new Map<string, number>()
  readonly #log: Logger
  #lastAsk = 0
  #askTimer: NodeJS.Timeout | undefined
  #started = false
  #stopped = false
  readonly #onDisconnect = (): void => this.#check()

  constructor(
    peer: MeshPeer,
    heads: string | ReadonlySet<string>,
    ask: () => void,
    log: Logger,
    target = MESH_NEIGHBOURS,
  ) {
    this.#peer = peer
    this.#heads = typeof heads === 'string' ? new Set([heads]) : heads
    this.#ask = ask
    this.#log = log
    this.#target = target
  }

  /** Watches for neighbours that leave. */
  start(): void {
    if (this.#started || this.#stopped) return
    this.#started = true
    this.#peer.addEventListener('peer:disconnect', this.#onDisconnect)
  }

  /** Where other nodes can reach this one: its listen addresses, loopback last. */
  addrs(): string[] {
    const all = this.#peer.getMultiaddrs().map((ma) => ma.toString())
    const loopback = (a: string): boolean => a.startsWith('/ip4/127.') || a.startsWith('/ip6/::1/')
    return [...all.filter((a) => !loopback(a)), ...all.filter(loopback)].slice(0, 8)
  }

  /** The other nodes this node is connected to now. */
  connected(): Set<string> {
    const self = this.#peer.peerId.toString()
    const ids = new Set<string>()
    for (const connection of this.#peer.getConnections()) {
      const id = connection.remotePeer.toString()
      if (!this.#heads.has(id) && id !== self) ids.add(id)
    }
    return ids
  }

  /** Nodes the head named: dials some until this node has enough neighbours. */
  offer(peers: PeerInfo[]): void {
    const self = this.#peer.peerId.toString()
    const connected = this.connected()
    for (const { peerId, addrs } of peers) {
      if (this.#stopped || connected.size + this.#dialing.size >= this.#target) return
      if (peerId === self || this.#heads.has(peerId) || connected.has(peerId) || this.#dialing.has(peerId)) continue
      if ((this.#unreachable.get(peerId) ?? 0) > Date.now()) continue
      let targets: ReturnType<typeof multiaddr>[]
      try {
        targets = addrs.map((a) => multiaddr(a.includes('/p2p/') ? a : `${a}/p2p/${peerId}`))
      } catch {
        continue
      }
      this.#dialing.add(peerId)
      this.#peer.dial(targets, { signal: AbortSignal.timeout(10_000) }).then(
        () => {
          this.#dialing.delete(peerId)
          this.#log('neighbour %s', peerId)
          this.#check()
        },
        (err: Error) => {
          this.#dialing.delete(peerId)
          this.#unreachable.set(peerId, Date.now() + UNREACHABLE_MS)
          this.#log('could not reach node %s: %s', peerId, err.message)
        },
      )
    }
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#askTimer)
    this.#peer.removeEventListener('peer:disconnect', this.#onDisconnect)
  }

  /** Too few neighbours and none being dialed: ask the head for more, at most every {@link ASK_AGAIN_MS}. */
  #check(): void {
    if (this.#stopped || this.#askTimer !== undefined) return
    if (this.connected().size + this.#dialing.size >= this.#target) return
    const wait = Math.max(0, this.#lastAsk + ASK_AGAIN_MS - Date.now())
    this.#askTimer = setTimeout(() => {
      this.#askTimer = undefined
      if (this.#stopped || this.connected().size + this.#dialing.size >= this.#target) return
      this.#lastAsk = Date.now()
      this.#ask()
    }, wait)
    this.#askTimer.unref()
  }
}

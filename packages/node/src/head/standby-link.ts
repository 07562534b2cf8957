import { HEADS_PROTOCOL, type HeadsMessage, inbound } from '@meshpool/core'
import { StreamChannel } from '../net/channel.js'
import { dialHead, headIdOf } from '../net/dial.js'
import type { MeshPeer } from '../net/peer.js'
import type { HeadLog } from './head-types.js'
import { checkHeadProof, headProof } from './standby-proof.js'
import { HEADS_HEARTBEAT_MS, HEADS_LEASE_MS, type HeadRole } from './standby-role.js'

/** Heads-protocol streams one connection may open: a head needs one. */
const HEADS_STREAMS_PER_CONNECTION = 2

type HeadsChannel = StreamChannel<HeadsMessage, HeadsMessage>

export interface HeadsLinkInit {
  peer: MeshPeer
  role: HeadRole
  /** The mesh's admin key: every head of the mesh holds the same one, and proves it to the others. */
  adminKey: string
  /** The head this one watches (`--standby <address>`): dialed, and dialed again whenever the link drops. */
  watch?: string
  note: (line: string) => void
  log: HeadLog
}

/**
 * The link between the heads of a mesh over {@link HEADS_PROTOCOL}. The head
 * started with `--standby` dials the other and sends its state every
 * heartbeat; the other answers each with its own. Either side takes a state
 * only with a valid proof of the admin key, and hands it to the
 * {@link HeadRole}, which a timer ticks (a standby's lease runs out there).
 */
export class HeadsLink {
  readonly #init: HeadsLinkInit
  #ticker: NodeJS.Timeout | undefined
  #dialed: HeadsChannel | undefined
  #stopped = false
  /** Peers whose proof was wrong, told once each. */
  readonly #badProofs = new Set<string>()

  constructor(init: HeadsLinkInit) {
    this.#init = init
  }

  async start(): Promise<void> {
    const { peer } = this.#init
    await peer.handle(
      HEADS_PROTOCOL,
      (stream, connection) => {
        const from = connection.remotePeer.toString()
        const channel: HeadsChannel = new StreamChannel(stream, inbound.head.heads)
        channel.start({ message: (m) => this.#take(channel, from, m, true), close: () => {} })
      },
      { maxInboundStreams: HEADS_STREAMS_PER_CONNECTION },
    )
    this.#ticker = setInterval(() => {
      this.#init.role.tick()
      this.#dialed?.send(this.#state(this.#watchedId()))
    }, HEADS_HEARTBEAT_MS)
    this.#ticker.unref()
    if (this.#init.watch !== undefined) void this.#watch(this.#init.watch)
  }

  stop(): void {
    this.#stopped = true
    clearInterval(this.#ticker)
    this.#dialed?.close()
  }

  /** Keeps a link to the watched head: dials it, and again after each drop or silence. */
  async #watch(address: string): Promise<void> {
    const to = this.#watchedId()
    while (!this.#stopped) {
      try {
        const channel: HeadsChannel = new StreamChannel(
          await dialHead(this.#init.peer, address, HEADS_PROTOCOL),
          inbound.head.heads,
        )
        await this.#serve(channel, to)
      } catch (err) {
        this.#init.log('heads: no link to %s: %s', address, (err as Error).message)
      }
      await new Promise((resolve) => setTimeout(resolve, HEADS_HEARTBEAT_MS))
    }
  }

  /** Serves one dialed link until it closes, or says nothing for two leases (a frozen head). */
  #serve(channel: HeadsChannel, to: string): Promise<void> {
    let heard = Date.now()
    return new Promise((resolve) => {
      const silence = setInterval(() => {
        if (Date.now() - heard > 2 * HEADS_LEASE_MS) channel.close(new Error('the other head went silent'))
      }, HEADS_LEASE_MS)
      channel.start({
        message: (m) => {
          heard = Date.now()
          this.#take(channel, to, m, false)
        },
        close: () => {
          clearInterval(silence)
          if (this.#dialed === channel) this.#dialed = undefined
          resolve()
        },
      })
      this.#dialed = channel
      channel.send(this.#state(to))
    })
  }

  /** A state from head `from`: taken once its proof holds; an inbound one is answered with ours. */
  #take(channel: HeadsChannel, from: string, message: HeadsMessage, answer: boolean): void {
    const self = this.#init.peer.peerId.toString()
    if (!checkHeadProof(this.#init.adminKey, from, self, message.proof)) {
      if (!this.#badProofs.has(from) && this.#badProofs.size < 64) {
        this.#badProofs.add(from)
        this.#init.note(
          `the peer ${from} spoke as a head of this mesh without its admin key; ignored (give every head a copy of the same admin.key)`,
        )
      }
      channel.close(new Error('no valid proof of the admin key'))
      return
    }
    const { proof: _, type: __, ...state } = message
    this.#init.role.heard(from, state)
    if (answer) channel.send(this.#state(from))
  }

  #state(to: string): HeadsMessage {
    return { type: 'state', ...this.#init.role.state(), proof: headProof(this.#init.adminKey, this.#self(), to) }
  }

  #self(): string {
    return this.#init.peer.peerId.toString()
  }

  #watchedId(): string {
    const watch = this.#init.watch
    return watch === undefined ? '' : headIdOf(watch)
  }
}

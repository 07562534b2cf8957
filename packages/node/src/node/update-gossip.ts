import { type GossipsubMessage, TopicValidatorResult } from '@libp2p/gossipsub'
import type { Logger } from '@libp2p/interface'
import { decodeFrame, type HeadToNodeMessage, inbound, UPDATES_TOPIC } from '@meshpool/core'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { MeshPeer } from '../net/peer.js'
import type { NodeAgent } from './agent.js'
import type { BlobStore } from './blob-store.js'
import { nodeLog } from './node-log.js'
import { fetchUpdateBlob } from './update-blob.js'

/** Least time between two notes of a forged update in the node's log. */
const FORGED_NOTE_EVERY_MS = 1000

export interface UpdateGossipInit {
  peer: MeshPeer
  /** The peer ids of the mesh's heads: the only publishers of updates. */
  headPeerIds: ReadonlySet<string>
  /** The head of now (big updates are fetched from it when no node has them). */
  head: () => Multiaddr
  agent: NodeAgent
  /** Where big updates fetched as blobs are kept, to serve other nodes. */
  blobs: BlobStore
  /** The node's own log. */
  onLine?: (line: string) => void
  log: Logger
  /** The node's name, which tags its gossip and blob logs (see nodeLog). */
  name: string
}

/**
 * A node's updates from gossip: it subscribes to the updates topic, passes on
 * only what the head published (anything else is dropped, and not passed on
 * to other nodes), hands the updates to the agent, and fetches those too big
 * for gossip as blobs.
 */
export class UpdateGossip {
  readonly #init: UpdateGossipInit
  #lastForgedNote = 0
  #started = false
  readonly #onMessage = (event: CustomEvent<GossipsubMessage>): void => this.#take(event.detail)
  /** Which peer each update came through: the head, or another node of the mesh. */
  readonly #gossipLog: Logger

  constructor(init: UpdateGossipInit) {
    this.#init = init
    this.#gossipLog = nodeLog('gossip', init.name)
  }

  start(): void {
    if (this.#started) return
    this.#started = true
    const pubsub = this.#init.peer.services.pubsub
    pubsub.subscribe(UPDATES_TOPIC)
    pubsub.topicValidators.set(UPDATES_TOPIC, (_from, message) => {
      if (message.type === 'signed' && this.#init.headPeerIds.has(message.from.toString())) {
        return TopicValidatorResult.Accept
      }
      this.#forged(message.type === 'signed' ? message.from.toString() : 'an unsigned peer')
      return TopicValidatorResult.Reject
    })
    pubsub.addEventListener('gossipsub:message', this.#onMessage)
  }

  stop(): void {
    if (!this.#started) return
    this.#started = false
    const pubsub = this.#init.peer.services.pubsub
    pubsub.removeEventListener('gossipsub:message', this.#onMessage)
    pubsub.topicValidators.delete(UPDATES_TOPIC)
    pubsub.unsubscribe(UPDATES_TOPIC)
  }

  #take({ msg: message, propagationSource }: GossipsubMessage): void {
    const { headPeerIds, agent } = this.#init
    if (message.topic !== UPDATES_TOPIC || message.type !== 'signed') return
    if (!headPeerIds.has(message.from.toString())) return // only a head publishes updates
    try {
      const frame = decodeFrame<HeadToNodeMessage>(message.data, inbound.node)
      if (frame.type !== 'updates') return
      const via = propagationSource.toString()
      const seqs = [...frame.entries, ...(frame.announced ?? [])].map((u) => u.seq).join(',')
      this.#gossipLog('update %s from %s', seqs, headPeerIds.has(via) ? 'the head' : `node ${via}`)
      agent.onUpdates(frame.entries)
      for (const announced of frame.announced ?? []) {
        if (announced.hash === undefined || !agent.hasPool(announced.poolId)) agent.onAnnounced([announced])
        else fetchUpdateBlob(agent, this.#init, { ...announced, hash: announced.hash })
      }
    } catch (err) {
      this.#init.log('dropping a malformed update: %s', (err as Error).message)
    }
  }

  #forged(author: string): void {
    if (Date.now() - this.#lastForgedNote <= FORGED_NOTE_EVERY_MS) return
    this.#lastForgedNote = Date.now()
    this.#init.onLine?.(`ignored an update published by ${author}: only the head publishes updates`)
  }
}

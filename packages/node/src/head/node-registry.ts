import type { HeadToNodeMessage, NodeInfo, NodeMessage, PeerInfo } from '@meshpool/core'
import type { Channel } from '../net/channel.js'
import { addrsOnIp, nodeInfo, pickPeers } from './head-helpers.js'
import type { HeadLog, NodeAdmission, NodeEvent, NodeSession } from './head-types.js'

/** How many other nodes the head names to a node that joins or asks (it keeps a few of them as mesh neighbours). */
const PEERS_OFFERED = 8

type Hello = Extract<NodeMessage, { type: 'hello' }>

export interface NodeRegistryInit {
  now: () => number
  /** Who may join (none: any peer with the password). */
  admission: NodeAdmission | undefined
  onNodeEvent: (event: NodeEvent) => void
  /** A node joined the mesh with its slots. */
  onJoined: (node: NodeSession) => void
  /** A node left the mesh: what it held must go elsewhere. Called after it is out of the registry. */
  onLeft: (node: NodeSession) => void
  disconnect: (peerId: string) => void
  note: (line: string) => void
  log: HeadLog
}

/**
 * The head's nodes: a session per connection, which joins the mesh with its
 * hello (when admission lets it) and leaves when its channel closes or a
 * newer connection of the same node replaces it.
 */
export class NodeRegistry {
  readonly #nodes = new Map<string, NodeSession>()
  /** The remote nodes that listen, for the gossip mesh: an array to pick from at random, and where each is in it. */
  readonly #listening: NodeSession[] = []
  readonly #listeningAt = new Map<NodeSession, number>()
  readonly #init: NodeRegistryInit
  #slots = 0

  constructor(init: NodeRegistryInit) {
    this.#init = init
  }

  /** A new connection from a node: its session, which joins with its hello. An older connection is closed. */
  connect(
    nodeId: string,
    channel: Channel<NodeMessage, HeadToNodeMessage>,
    { local, remoteIp }: { local: boolean; remoteIp: string | undefined },
  ): NodeSession {
    this.#nodes.get(nodeId)?.channel.close(new Error('replaced by a newer connection from the same node'))
    const now = this.#init.now()
    return {
      id: nodeId,
      name: nodeId,
      slots: 0,
      wanted: 0,
      channel,
      poolsSent: new Set(),
      local,
      silent: false,
      unloadable: new Map(),
      addrs: [],
      remoteIp,
      gpus: [],
      slotStates: [],
      done: 0,
      failed: 0,
      joinedAt: now,
      lastHeartbeat: now,
    }
  }

  /** A node's hello: it joins the mesh, or is refused and cut off. A second hello is ignored. */
  hello(node: NodeSession, message: Hello): void {
    if (node.slots > 0) return
    const { admission } = this.#init
    const refusal = node.local ? undefined : admission?.refusal(node.id)
    if (refusal !== undefined) {
      this.#init.note(`refused node ${node.id} (${message.name}): ${refusal}`)
      node.channel.send({ type: 'refused', message: refusal })
      node.channel.close()
      this.#init.disconnect(node.id)
      return
    }
    if (!node.local) admission?.admitted(node.id, message.name)
    node.name = message.name
    node.addrs = node.remoteIp === undefined ? (message.addrs ?? []) : addrsOnIp(message.addrs ?? [], node.remoteIp)
    node.gpus = message.gpus ?? []
    // An older connection of the same node that is not gone yet: its leases go back now.
    const old = this.#nodes.get(node.id)
    if (old !== undefined && old !== node) this.gone(old, new Error('replaced by a newer connection'))
    this.#nodes.set(node.id, node)
    this.setSlots(node, message.slots)
    if (!node.local && node.addrs.length > 0) {
      this.#listeningAt.set(node, this.#listening.length)
      this.#listening.push(node)
    }
    this.#init.log('node %s (%s) joined with %d slots', node.id, node.name, node.slots)
    this.#init.onNodeEvent({ type: 'joined', nodeId: node.id, name: node.name, slots: node.slots })
    this.#init.onJoined(node)
    node.channel.send({ type: 'welcome', nodeId: node.id })
    if (node.local) return
    const revoked = admission?.revokedIds() ?? []
    if (revoked.length > 0) node.channel.send({ type: 'revoked', peerIds: revoked })
    const allowed = admission?.allowedIds()
    if (allowed !== undefined) node.channel.send({ type: 'allowed', peerIds: allowed })
    node.channel.send({ type: 'peers', peers: this.#somePeers(node) })
  }

  /** A node's session ended (its channel closed, it was replaced or revoked). A session that never joined changes nothing. */
  gone(node: NodeSession, reason: Error | undefined): void {
    if (!this.isJoined(node)) return
    this.#nodes.delete(node.id)
    this.#slots -= node.slots
    this.#unlist(node)
    this.#init.log('node %s left%s', node.id, reason === undefined ? '' : `: ${reason.message}`)
    this.#init.onNodeEvent({
      type: 'left',
      nodeId: node.id,
      name: node.name,
      slots: node.slots,
      ...(reason === undefined ? {} : { reason: reason.message }),
    })
    this.#init.onLeft(node)
  }

  /** A node asks for more peers to connect to. */
  findPeers(node: NodeSession): void {
    if (this.isJoined(node)) node.channel.send({ type: 'peers', peers: this.#somePeers(node) })
  }

  /** A joined node's count of working slots changed (or was first said, in its hello). */
  setSlots(node: NodeSession, slots: number): void {
    if (this.isJoined(node)) this.#slots += slots - node.slots
    node.slots = slots
  }

  /** Slots of every node of the mesh. */
  get slots(): number {
    return this.#slots
  }

  /** Whether this session is the node's current one in the mesh. */
  isJoined(node: NodeSession): boolean {
    return this.#nodes.get(node.id) === node
  }

  get(nodeId: string): NodeSession | undefined {
    return this.#nodes.get(nodeId)
  }

  has(nodeId: string): boolean {
    return this.#nodes.has(nodeId)
  }

  get size(): number {
    return this.#nodes.size
  }

  values(): IterableIterator<NodeSession> {
    return this.#nodes.values()
  }

  /** Every node of the mesh, as `meshpool status` shows it. */
  info(): NodeInfo[] {
    return [...this.#nodes.values()].map(nodeInfo)
  }

  /** Where a node of the mesh listens, if it is here and listens. */
  whereIs(nodeId: string): PeerInfo | undefined {
    const node = this.#nodes.get(nodeId)
    return node === undefined || node.addrs.length === 0 ? undefined : { peerId: node.id, addrs: node.addrs }
  }

  /** Closes every node's channel (the head stops). */
  closeAll(): void {
    for (const node of [...this.#nodes.values()]) node.channel.close()
  }

  /** A random few of the other nodes that listen, for `node` to connect to (the gossip mesh). */
  #somePeers(node: NodeSession): PeerInfo[] {
    return pickPeers(this.#listening, PEERS_OFFERED, node, this.#listeningAt.has(node))
  }

  #unlist(node: NodeSession): void {
    const at = this.#listeningAt.get(node)
    if (at === undefined) return
    const last = this.#listening.pop() as NodeSession
    if (last !== node) {
      this.#listening[at] = last
      this.#listeningAt.set(last, at)
    }
    this.#listeningAt.delete(node)
  }
}

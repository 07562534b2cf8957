import { hostname } from 'node:os'
import { join } from 'node:path'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  CODE_PROTOCOL,
  type CodeReply,
  type CodeRequest,
  decodeFrame,
  type HeadToNodeMessage,
  inbound,
  UPDATES_TOPIC,
  WORK_PROTOCOL,
} from '@meshpool/core'
import type { Multiaddr } from '@multiformats/multiaddr'
import { StreamChannel } from '../net/channel.js'
import { dialHead, parseHeadAddress } from '../net/dial.js'
import { loadOrCreateIdentity } from '../net/identity.js'
import { checkListenAddress, DEFAULT_NODE_LISTEN } from '../net/listen-address.js'
import { createPeer, type MeshPeer } from '../net/peer.js'
import { isPeerId } from '../net/peer-id.js'
import { type PoolAccess, poolSecret, swarmKey } from '../net/psk.js'
import type { GpuInfo } from '../worker-types.js'
import { NodeAgent } from './agent.js'
import { BlobStore, fetchBlob, serveBlobs } from './blob-store.js'
import { CodeCache } from './code-cache.js'
import { defaultSlots } from './gpus.js'
import { Neighbours } from './neighbours.js'
import { defaultStateDir } from './node-lock.js'
import { sortRevoked } from './revoked-peers.js'
import { lookupSlotUser, setUpSlots } from './slot-user.js'

const log = logger('meshpool:node')
/** Which peer each update came through: the head, or another node of the mesh. */
const gossipLog = logger('meshpool:gossip')
/** Nodes listen on every interface, on a free port, for other nodes of the mesh. */
const RECONNECT_BACKOFF_MS = [100, 250, 500, 1000, 2000]
const CODE_FETCH_TIMEOUT_MS = 60_000
/** How long a stopping node lets its running jobs finish. @default 30000 */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000

export interface NodeInit extends PoolAccess {
  head: string
  /** CPU slots. @default cores minus one, at least one */
  slots?: number
  /** One slot per GPU listed (see `planSlots`), instead of CPU slots. */
  gpus?: GpuInfo[]
  /** How the head, status and log prefixes name this node. @default see {@link defaultNodeName} */
  name?: string
  /**
   * The node's state folder: its identity (`node.key`, so its peer id survives restarts and a
   * revoke sticks) and the cache of shipped code (`code/`). Without one the node gets a new
   * peer id each run and caches code in ~/.meshpool/node/code.
   */
  stateDir?: string
  /**
   * Slots run as this user (needs root), so shipped code can read neither the node's
   * files (its identity, key files) nor its /proc entries. @default the node's own user
   */
  slotUser?: string
  /** The node's log: what its workers print (prefixed with node and slot) and notes about pools. */
  onLine?: (line: string) => void
  /**
   * Told when the connection to the head drops and comes back, when the head revokes this
   * node (it stops at once), and when the head asks it to stop (it drains first).
   */
  onStatus?: (status: 'connected' | 'disconnected' | 'revoked' | 'stopped', detail?: string) => void
  /** On a stop from the head, how long running jobs may finish. @default 30000 */
  drainTimeoutMs?: number
  /**
   * Where this node listens for other nodes (the gossip mesh, big updates); none: it only dials out.
   * @default '/ip4/0.0.0.0/tcp/0' (all interfaces, a free port)
   */
  listen?: string[]
}

export interface RunningNode {
  peerId: string
  slots: number
  /** Where other nodes reach this one (the gossip mesh and big updates). */
  addresses: string[]
  /** Takes no new jobs, gives back those not started, and waits up to `timeoutMs` for the running ones. */
  drain(timeoutMs?: number): Promise<void>
  /** Leaves at once: the head requeues whatever this node still held. */
  stop(): Promise<void>
}

/**
 * Joins a head: dials it (failing fast with a clear error on a wrong password,
 * an unreachable address or a peer that is no head), starts the slots, listens
 * for updates from the head alone, and reconnects if the head goes away.
 */
export async function joinHead(init: NodeInit): Promise<RunningNode> {
  const headAddr = parseHeadAddress(init.head)
  const headPeerId = headAddr.getComponents().find((c) => c.name === 'p2p')?.value
  const listen = init.listen ?? [DEFAULT_NODE_LISTEN]
  for (const address of listen) checkListenAddress(address)
  const secret = poolSecret(init, headPeerId as string)
  const slotUser = init.slotUser === undefined ? undefined : lookupSlotUser(init.slotUser)
  const privateKey =
    init.stateDir === undefined ? undefined : await loadOrCreateIdentity(join(init.stateDir, 'node.key'))
  const revoked = new Set<string>()
  // The head's --allow-peers list, once it sends one: then nobody else gets in here either.
  let allowed: Set<string> | undefined
  const peer = await createPeer({
    psk: swarmKey(secret),
    listen,
    refuse: (peerId) => {
      if (revoked.has(peerId)) return 'revoked'
      if (allowed !== undefined && !allowed.has(peerId)) return 'unlisted'
      return undefined
    },
    ...(privateKey === undefined ? {} : { privateKey }),
  })
  const blobs = new BlobStore()
  await serveBlobs(peer, blobs)
  // The agent and its neighbours refer to each other.
  let agent: NodeAgent
  const neighbours = new Neighbours(peer, headPeerId ?? '', () => agent.findPeers())
  const code = new CodeCache(
    join(init.stateDir ?? defaultStateDir(), 'code'),
    (hash) => fetchCode(peer, headAddr, hash),
    init.onLine,
  )
  const slotSetup = await setUpSlots(slotUser, (hash) => code.path(hash))
  agent = new NodeAgent({
    slots: init.slots ?? defaultSlots(),
    name: init.name ?? defaultNodeName(peer.peerId.toString()),
    ...(init.gpus === undefined ? {} : { gpus: init.gpus }),
    modulePath: slotSetup.modulePath,
    ...(slotUser === undefined ? {} : { slotUser }),
    ...(init.onLine === undefined ? {} : { onLine: init.onLine }),
    addrs: () => neighbours.addrs(),
    onPeers: (peers) => neighbours.offer(peers),
    onStopAsked: () => {
      void agent
        .drain(init.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS)
        .then(stop)
        .then(() => init.onStatus?.('stopped', 'the head asked this node to stop'))
    },
    onRevoked: (peerIds) => {
      const { leave, drop, headNamed } = sortRevoked(peerIds, { self: peer.peerId.toString(), head: headPeerId ?? '' })
      if (headNamed)
        init.onLine?.(`ignored a revoke of the head's own peer id ${headPeerId}: a node never drops its head`)
      if (leave) {
        void stop().then(() => init.onStatus?.('revoked', 'the head revoked this node: it is refused from now on'))
        return
      }
      for (const id of drop) revoked.add(id)
      for (const id of drop) if (isPeerId(id)) peer.hangUp(peerIdFromString(id)).catch(() => {})
    },
    onAllowed: (peerIds) => {
      allowed = new Set([...peerIds, headPeerId ?? '', peer.peerId.toString()])
      const list = allowed
      for (const connection of peer.getConnections())
        if (!list.has(connection.remotePeer.toString())) connection.abort(new Error('not on the --allow-peers list'))
    },
  })
  const slots = agent.slots
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    neighbours.stop()
    await agent.stop()
    await slotSetup.close()
    await peer.stop()
  }
  try {
    const pubsub = peer.services.pubsub
    pubsub.subscribe(UPDATES_TOPIC)
    // Only the head publishes updates: anything else is dropped, and not passed on to other nodes.
    let lastForgedNote = 0
    pubsub.topicValidators.set(UPDATES_TOPIC, (_from, message) => {
      if (message.type === 'signed' && message.from.toString() === headPeerId) return TopicValidatorResult.Accept
      if (Date.now() - lastForgedNote > 1000) {
        lastForgedNote = Date.now()
        const author = message.type === 'signed' ? message.from.toString() : 'an unsigned peer'
        init.onLine?.(`ignored an update published by ${author}: only the head publishes updates`)
      }
      return TopicValidatorResult.Reject
    })
    pubsub.addEventListener('gossipsub:message', (event) => {
      const { msg: message, propagationSource } = event.detail
      if (message.topic !== UPDATES_TOPIC || message.type !== 'signed') return
      if (message.from.toString() !== headPeerId) return // only the head publishes updates
      try {
        const frame = decodeFrame<HeadToNodeMessage>(message.data, inbound.node)
        if (frame.type !== 'updates') return
        const via = propagationSource.toString()
        const seqs = [...frame.entries, ...(frame.announced ?? [])].map((u) => u.seq).join(',')
        gossipLog('update %s from %s', seqs, via === headPeerId ? 'the head' : `node ${via}`)
        agent.onUpdates(frame.entries)
        for (const announced of frame.announced ?? []) {
          if (announced.hash === undefined || !agent.hasPool(announced.poolId)) agent.onAnnounced([announced])
          else fetchUpdateBlob(agent, peer, headAddr, blobs, { ...announced, hash: announced.hash })
        }
      } catch (err) {
        log('dropping a malformed update: %s', (err as Error).message)
      }
    })
    const first = await dialHead(peer, init.head, WORK_PROTOCOL, secret)
    agent.start()
    void (async () => {
      let stream = first
      let attempt = 0
      while (!stopped) {
        const connected = agent.connect(new StreamChannel(stream, inbound.node))
        void agent.welcomed().then(
          () => init.onStatus?.('connected'),
          () => {},
        )
        const reason = await connected
        if (stopped) return
        init.onStatus?.('disconnected', reason?.message)
        while (!stopped) {
          await new Promise((resolve) =>
            setTimeout(resolve, RECONNECT_BACKOFF_MS[Math.min(attempt, RECONNECT_BACKOFF_MS.length - 1)]),
          )
          attempt++
          try {
            stream = await dialHead(peer, init.head, WORK_PROTOCOL, secret)
            attempt = 0
            break
          } catch (err) {
            log('reconnect failed: %s', (err as Error).message)
          }
        }
      }
    })()
    await agent.welcomed()
  } catch (err) {
    await stop()
    throw err
  }
  return {
    peerId: peer.peerId.toString(),
    slots,
    addresses: neighbours.addrs(),
    drain: (timeoutMs = DEFAULT_DRAIN_TIMEOUT_MS) => agent.drain(timeoutMs),
    stop,
  }
}

/**
 * The name of a node started without one: its host name and the start of its
 * peer id (past the `12D3KooW` every Ed25519 id begins with), e.g. `gpu1-DUxQab`,
 * so nodes on one machine differ in status and log prefixes.
 */
export function defaultNodeName(peerId: string, host = hostname()): string {
  const distinct = peerId.startsWith('12D3KooW') ? peerId.slice('12D3KooW'.length) : peerId
  return `${host}-${distinct.slice(0, 6)}`
}

/** Fetches a big update announced on gossip as a blob; if that fails, a catch-up from the head gets it. */
function fetchUpdateBlob(
  agent: NodeAgent,
  peer: MeshPeer,
  head: Multiaddr,
  blobs: BlobStore,
  { poolId, seq, hash }: { poolId: number; seq: number; hash: string },
): void {
  agent.blobComing(poolId, seq, true)
  fetchBlob(peer, head, hash, blobs)
    .then((value) => {
      agent.blobComing(poolId, seq, false)
      agent.onUpdates([{ poolId, seq, value }])
    })
    .catch((err: Error) => {
      log('update %d of pool %d as a blob failed (%s): catching up from the head', seq, poolId, err.message)
      agent.blobComing(poolId, seq, false)
      agent.onAnnounced([{ poolId, seq }])
    })
}

/** Fetches shipped worker code from the head; undefined if the head has none by that hash. */
async function fetchCode(peer: MeshPeer, head: Multiaddr, hash: string): Promise<Uint8Array | undefined> {
  const stream = await peer.dialProtocol(head, CODE_PROTOCOL, { signal: AbortSignal.timeout(CODE_FETCH_TIMEOUT_MS) })
  const channel = new StreamChannel<CodeReply, CodeRequest>(stream, inbound.codeReply)
  return new Promise((resolve, reject) => {
    channel.start({
      message: (reply) => {
        if (reply.hash !== hash) return
        resolve(reply.code)
        channel.close()
      },
      close: (reason) => reject(reason ?? new Error('the head closed the stream before sending the code')),
    })
    channel.send({ type: 'fetch', hash })
  })
}

import { hostname } from 'node:os'
import { join } from 'node:path'
import { logger } from '@libp2p/logger'
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
import { NodeAgent } from './agent.js'
import { StreamChannel } from './channel.js'
import { CodeCache } from './code-cache.js'
import { defaultSlots } from './create-pool.js'
import { dialHead, parseHeadAddress } from './dial.js'
import { defaultStateDir } from './node-lock.js'
import { createPeer, type MeshPeer } from './peer.js'
import { derivePoolKey, derivePoolSecret } from './psk.js'
import type { GpuInfo } from './worker-types.js'

const log = logger('meshpool:node')
const RECONNECT_BACKOFF_MS = [100, 250, 500, 1000, 2000]
const CODE_FETCH_TIMEOUT_MS = 60_000
/** How long a stopping node lets its running jobs finish. @default 30000 */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000

export interface NodeInit {
  head: string
  password: string
  /** CPU slots. @default cores minus one, at least one */
  slots?: number
  /** One slot per GPU listed (see `planSlots`), instead of CPU slots. */
  gpus?: GpuInfo[]
  name?: string
  /** The node's state folder: shipped code is cached in its `code` folder. @default ~/.meshpool/node */
  stateDir?: string
  /** The node's log: what its workers print (prefixed with node and slot) and notes about pools. */
  onLine?: (line: string) => void
  /** Told when the connection to the head drops and comes back. */
  onStatus?: (status: 'connected' | 'disconnected', detail?: string) => void
}

export interface RunningNode {
  peerId: string
  slots: number
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
  const peer = await createPeer({ psk: derivePoolKey(init.password) })
  const code = new CodeCache(join(init.stateDir ?? defaultStateDir(), 'code'), (hash) =>
    fetchCode(peer, headAddr, hash),
  )
  const agent = new NodeAgent({
    slots: init.slots ?? defaultSlots(),
    name: init.name ?? hostname(),
    ...(init.gpus === undefined ? {} : { gpus: init.gpus }),
    modulePath: async (spec) => (spec.codeHash === undefined ? spec.worker : code.path(spec.codeHash)),
    ...(init.onLine === undefined ? {} : { onLine: init.onLine }),
  })
  const slots = agent.slots
  let stopped = false
  try {
    const pubsub = peer.services.pubsub
    pubsub.subscribe(UPDATES_TOPIC)
    pubsub.addEventListener('message', (event) => {
      const message = event.detail
      if (message.topic !== UPDATES_TOPIC || message.type !== 'signed') return
      if (message.from.toString() !== headPeerId) return // only the head publishes updates
      try {
        const frame = decodeFrame<HeadToNodeMessage>(message.data, inbound.node)
        if (frame.type !== 'updates') return
        log('gossip: %d update(s)', frame.entries.length)
        agent.onUpdates(frame.entries)
        if (frame.announced !== undefined) agent.onAnnounced(frame.announced)
      } catch (err) {
        log('dropping a malformed update: %s', (err as Error).message)
      }
    })
    const first = await dialHead(peer, init.head, WORK_PROTOCOL, derivePoolSecret(init.password))
    agent.start()
    void (async () => {
      let stream = first
      let attempt = 0
      while (!stopped) {
        const connected = agent.connect(new StreamChannel(stream, inbound.node))
        void agent.welcomed().then(() => init.onStatus?.('connected'))
        const reason = await connected
        if (stopped) return
        init.onStatus?.('disconnected', reason?.message)
        while (!stopped) {
          await new Promise((resolve) =>
            setTimeout(resolve, RECONNECT_BACKOFF_MS[Math.min(attempt, RECONNECT_BACKOFF_MS.length - 1)]),
          )
          attempt++
          try {
            stream = await dialHead(peer, init.head, WORK_PROTOCOL, derivePoolSecret(init.password))
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
    await peer.stop()
    throw err
  }
  return {
    peerId: peer.peerId.toString(),
    slots,
    drain: (timeoutMs = DEFAULT_DRAIN_TIMEOUT_MS) => agent.drain(timeoutMs),
    stop: async () => {
      stopped = true
      await agent.stop()
      await peer.stop()
    },
  }
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

import { homedir, hostname, networkInterfaces } from 'node:os'
import { dirname, join } from 'node:path'
import { logger } from '@libp2p/logger'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import {
  CLIENT_PROTOCOL,
  CODE_PROTOCOL,
  type CodeReply,
  type CodeRequest,
  checkPositiveInteger,
  DEFAULT_UPDATE_LOG_BYTES,
  encodeFrame,
  FrameError,
  GOSSIP_INLINE_BYTES,
  inbound,
  UPDATES_TOPIC,
  WORK_PROTOCOL,
} from '@meshpool/core'
import { ADMIN_KEY_FILE, adminRefusal, loadOrCreateAdminKey } from '../net/admin-key.js'
import { StreamChannel } from '../net/channel.js'
import { loadOrCreateIdentity } from '../net/identity.js'
import { MAX_REQUEST_FRAME_BYTES, STREAMS_PER_CONNECTION } from '../net/limits.js'
import { createPeer } from '../net/peer.js'
import { isPeerId } from '../net/peer-id.js'
import type { PeerRefusal } from '../net/pool-key-noise.js'
import { hasSecret, loadOrCreatePoolToken, type PoolAccess, poolSecret, swarmKey } from '../net/psk.js'
import { NodeAgent } from '../node/agent.js'
import { CodeCache } from '../node/code-cache.js'
import { defaultSlots } from '../node/gpus.js'
import { lookupSlotUser, type SlotSetup, setUpSlots } from '../node/slot-user.js'
import type { GpuInfo } from '../worker-types.js'
import { Admission } from './admission.js'
import { HeadBlobs } from './blobs.js'
import { Dashboard } from './dashboard/dashboard.js'
import { attachLocalAgent, HeadService } from './head-service.js'
import type { HeadStats, NodeEvent } from './head-types.js'
import { HeadMetrics } from './metrics.js'
import { DEFAULT_WEB_HOST, WebGuard } from './web-guard.js'

const log = logger('meshpool:head')
/** A revoked or refused node is cut off this long after it is told why. */
const HANG_UP_DELAY_MS = 500

/** @default 8899 */
export const DEFAULT_HEAD_PORT = 8899
/** Where a head keeps its identity unless told otherwise. */
export const DEFAULT_HEAD_KEY_FILE = join(homedir(), '.meshpool', 'head.key')

/** The head's join token, beside its identity file, when it was started with no secret of its own. */
export const POOL_TOKEN_FILE = 'pool.token'

export interface HeadInit extends PoolAccess {
  /** @default 8899 */
  port?: number
  /** @default '0.0.0.0' (all interfaces) */
  host?: string
  /** The identity file; its key keeps the join address across restarts. @default ~/.meshpool/head.key */
  keyFile?: string
  /** Local slots; 0 for a pure coordinator. @default cores minus one, at least one */
  slots?: number
  /** One local slot per GPU listed (see `planSlots`), instead of CPU slots. */
  gpus?: GpuInfo[]
  /**
   * Local slots run as this user (needs root), so shipped code can read neither the
   * head's key files nor its /proc entries. @default the head's own user
   */
  slotUser?: string
  maxAttempts?: number
  /** Told when a node joins or leaves. */
  onNodeEvent?: (event: NodeEvent) => void
  /** The head's log of its local slots: what their workers print, and notes about pools. */
  onLine?: (line: string) => void
  /** Bytes of updates each pool's log keeps for nodes that join late; older ones are dropped. @default 64 MiB */
  updateLogBytes?: number
  /** A file of peer ids, one per line: only these may join as nodes or connect as clients (each with its own identity file). */
  allowPeersFile?: string
  /** Most jobs one client may have open; a client holds back the rest until results come. @default 1,000,000 */
  maxOpenJobsPerClient?: number
  /** Serve Prometheus metrics at http://<host>:<port>/metrics (0: a free port); none by default. */
  metricsPort?: number
  /** Serve the dashboard, a live web page, at http://<host>:<port>/ (0: a free port); none by default. */
  dashboardPort?: number
  /** Where the metrics listen. @default '127.0.0.1' (this machine only) */
  metricsHost?: string
  /** Where the dashboard listens. @default '127.0.0.1' (this machine only) */
  dashboardHost?: string
  /** When set, the metrics and the dashboard answer only requests that carry it (`?token=` or a Bearer header). */
  webToken?: string
}

export interface RunningHead {
  peerId: string
  /** Addresses nodes can join, best first (never 0.0.0.0). */
  addresses: string[]
  /** The exact command that joins this head. */
  /** The join command, with the token when the head has one. */
  joinCommand: string
  /** The pool's join token, when the head was started with none of its own (or with this one). */
  token?: string
  /** The head's admin key file (what `meshpool revoke` / `stop --admin-key` need), unless it could not be written. */
  adminKeyFile?: string
  /** Where `/metrics` is served, with metricsPort. */
  metricsUrl?: string
  /** Where the dashboard is served, with dashboardPort. */
  dashboardUrl?: string
  stats(): HeadStats
  stop(): Promise<void>
}

/** Starts a head: the ledger, the protocols, gossip for updates, and local slots. */
export async function startHead(init: HeadInit): Promise<RunningHead> {
  const port = init.port ?? DEFAULT_HEAD_PORT
  checkPositiveInteger(port, 'port', { allowZero: true })
  checkPositiveInteger(init.slots, 'slots', { allowZero: true })
  checkPositiveInteger(init.maxOpenJobsPerClient, 'maxOpenJobsPerClient')
  const host = init.host ?? '0.0.0.0'
  const keyFile = init.keyFile ?? DEFAULT_HEAD_KEY_FILE
  const slotUser = init.slotUser === undefined ? undefined : lookupSlotUser(init.slotUser)
  const privateKey = await loadOrCreateIdentity(keyFile)
  // No secret given: the head's own random token (kept beside its identity), printed in its join line.
  const access: PoolAccess = hasSecret(init)
    ? init
    : { token: await loadOrCreatePoolToken(join(dirname(keyFile), POOL_TOKEN_FILE)), poolName: init.poolName }
  const headId = peerIdFromPrivateKey(privateKey).toString()
  const psk = swarmKey(poolSecret(access, headId))
  const note = init.onLine ?? ((line: string) => log(line))
  const admission = new Admission(dirname(keyFile), { headId, allowPeersFile: init.allowPeersFile, onNote: note })
  const adminKeyFile = join(dirname(keyFile), ADMIN_KEY_FILE)
  const adminKey = await loadOrCreateAdminKey(adminKeyFile, note)
  const peer = await createPeer({
    psk,
    privateKey,
    listen: [`/ip${host.includes(':') ? 6 : 4}/${host}/tcp/${port}`],
    refuse: (peerId) => admission.handshakeRefusal(peerId),
    onRefused: refusalLog(note),
  })
  const pubsub = peer.services.pubsub
  pubsub.subscribe(UPDATES_TOPIC)
  checkPositiveInteger(init.metricsPort, 'metricsPort', { allowZero: true })
  // The head's blobs and metrics and the head service refer to each other.
  let head: HeadService
  checkPositiveInteger(init.dashboardPort, 'dashboardPort', { allowZero: true })
  const metrics = init.metricsPort === undefined ? undefined : new HeadMetrics(() => head.snapshot())
  const dashboard =
    init.dashboardPort === undefined
      ? undefined
      : new Dashboard(() => ({ snapshot: head.snapshot(), nodes: head.nodes() }))
  const blobs = new HeadBlobs(init.updateLogBytes ?? DEFAULT_UPDATE_LOG_BYTES, (nodeId) => head.whereIs(nodeId))
  head = new HeadService({
    ...(init.maxAttempts === undefined ? {} : { maxAttempts: init.maxAttempts }),
    onNodeEvent: (event) => {
      if (event.type === 'left') blobs.gone(event.nodeId)
      init.onNodeEvent?.(event)
    },
    ...(init.updateLogBytes === undefined ? {} : { updateLogBytes: init.updateLogBytes }),
    admission,
    adminRefusal: (given) => adminRefusal(adminKey, given),
    ...(init.onLine === undefined ? {} : { onNote: init.onLine }),
    onJobDone: (ms, outcome, poolId) => {
      metrics?.jobDone(ms, outcome.ok)
      dashboard?.jobDone(outcome, poolId, outcome.ok ? undefined : outcome.where)
    },
    ...(init.maxOpenJobsPerClient === undefined ? {} : { maxOpenJobsPerClient: init.maxOpenJobsPerClient }),
    disconnect: (peerId) => {
      // After the message that says why has gone out.
      setTimeout(() => {
        if (isPeerId(peerId))
          peer.hangUp(peerIdFromString(peerId)).catch((err: Error) => log('hang up %s: %s', peerId, err.message))
      }, HANG_UP_DELAY_MS).unref()
    },
    publish: (entry) => {
      // A big update would not fit a gossip message: gossip names it by hash, and nodes fetch it
      // as a blob from the head or from a node that has it already.
      const frame =
        entry.value.byteLength > GOSSIP_INLINE_BYTES
          ? {
              type: 'updates',
              entries: [],
              announced: [{ poolId: entry.poolId, seq: entry.seq, hash: blobs.add(entry.value) }],
            }
          : { type: 'updates', entries: [entry] }
      pubsub.publish(UPDATES_TOPIC, encodeFrame(frame)).catch((err: Error) => {
        log('publishing update %d failed: %s', entry.seq, err.message)
      })
    },
  })
  head.start()
  await peer.handle(
    WORK_PROTOCOL,
    (stream, connection) => {
      const remoteIp = connection.remoteAddr.getComponents().find((c) => c.name === 'ip4' || c.name === 'ip6')?.value
      head.attachNode(connection.remotePeer.toString(), new StreamChannel(stream, inbound.head.work), { remoteIp })
    },
    { maxInboundStreams: STREAMS_PER_CONNECTION.work },
  )
  await peer.handle(
    CLIENT_PROTOCOL,
    (stream, connection) =>
      head.attachClient(new StreamChannel(stream, inbound.head.client), { peerId: connection.remotePeer.toString() }),
    { maxInboundStreams: STREAMS_PER_CONNECTION.client },
  )
  await blobs.serve(peer)
  await peer.handle(
    CODE_PROTOCOL,
    (stream, connection) => {
      // Shipped code is for the nodes and clients the allow-list names, when there is one.
      if (admission.clientRefusal(connection.remotePeer.toString()) !== undefined)
        return stream.abort(new Error('refused'))
      const channel = new StreamChannel<CodeRequest, CodeReply>(stream, inbound.head.code, {
        maxInFrameBytes: MAX_REQUEST_FRAME_BYTES,
      })
      channel.start({
        message: ({ hash }) => {
          // One fetch at a time: a peer that asks again before reading the answer is cut off.
          if (channel.queuedBytes > 0)
            return channel.close(new FrameError('a second code fetch before the first was read'))
          const code = head.code(hash)
          channel.send({ type: 'code', hash, ...(code === undefined ? {} : { code }) })
        },
        close: () => {},
      })
    },
    { maxInboundStreams: STREAMS_PER_CONNECTION.code },
  )
  const slots = init.gpus !== undefined && init.gpus.length > 0 ? init.gpus.length : (init.slots ?? defaultSlots())
  let agent: NodeAgent | undefined
  let slotSetup: SlotSetup | undefined
  if (slots > 0) {
    const code = new CodeCache(join(dirname(keyFile), 'code'), async (hash) => head.code(hash), init.onLine)
    slotSetup = await setUpSlots(slotUser, (hash) => code.path(hash))
    agent = new NodeAgent({
      slots,
      name: `${hostname()} (head)`,
      ...(init.gpus === undefined ? {} : { gpus: init.gpus }),
      modulePath: slotSetup.modulePath,
      ...(slotUser === undefined ? {} : { slotUser }),
      ...(init.onLine === undefined ? {} : { onLine: init.onLine }),
    })
    agent.start()
    attachLocalAgent(head, agent)
  }
  const metricsHost = init.metricsHost ?? DEFAULT_WEB_HOST
  const dashboardHost = init.dashboardHost ?? DEFAULT_WEB_HOST
  const guard = (on: string) => new WebGuard({ host: on, token: init.webToken })
  const served =
    metrics === undefined ? undefined : await metrics.serve(init.metricsPort ?? 0, metricsHost, guard(metricsHost))
  const page =
    dashboard === undefined
      ? undefined
      : await dashboard.serve(init.dashboardPort ?? 0, dashboardHost, guard(dashboardHost))
  const web = (on: string, port: number, path: string) => `http://${on.includes(':') ? `[${on}]` : on}:${port}${path}`
  const peerId = peer.peerId.toString()
  const addresses = reachableAddresses(
    peer.getMultiaddrs().map((ma) => ma.toString()),
    host,
    port,
    peerId,
  )
  return {
    peerId,
    addresses,
    ...(access.token === undefined ? {} : { token: access.token }),
    ...(adminKey === undefined ? {} : { adminKeyFile }),
    joinCommand: `${access.token === undefined ? '' : `MESHPOOL_TOKEN=${access.token} `}meshpool join ${addresses[0]}`,
    ...(served === undefined ? {} : { metricsUrl: web(metricsHost, served.port, '/metrics') }),
    ...(page === undefined ? {} : { dashboardUrl: web(dashboardHost, page.port, '/') }),
    stats: () => head.stats(),
    stop: async () => {
      served?.server.close()
      dashboard?.close()
      page?.server.close()
      admission.flush()
      head.close()
      await agent?.stop()
      await slotSetup?.close()
      await peer.stop()
    },
  }
}

/** The addresses to print for joining: interface addresses for a wildcard listen, LAN before loopback. */
/** How many refused peer ids the head remembers having logged (a flood of them is logged once each, up to this). */
const LOGGED_REFUSALS = 1024

/** Logs each refused peer once: a peer that retries in a loop does not fill the log. */
function refusalLog(note: (line: string) => void): (peerId: string, why: PeerRefusal) => void {
  const logged = new Set<string>()
  return (peerId, why) => {
    if (logged.has(peerId)) return
    if (logged.size >= LOGGED_REFUSALS) logged.clear()
    logged.add(peerId)
    note(
      why === 'revoked'
        ? `refused ${peerId} at the handshake: it was revoked`
        : `refused ${peerId} at the handshake: it is not in the head's --allow-peers list`,
    )
  }
}

function reachableAddresses(listening: string[], host: string, port: number, peerId: string): string[] {
  const actualPort = Number(/\/tcp\/(\d+)/.exec(listening[0] ?? '')?.[1] ?? port)
  const ips: string[] = []
  if (host === '0.0.0.0' || host === '::') {
    for (const list of Object.values(networkInterfaces())) {
      for (const nic of list ?? []) {
        if (nic.family === 'IPv4' && !nic.internal) ips.push(nic.address)
      }
    }
    ips.push('127.0.0.1')
  } else {
    ips.push(host)
  }
  return ips.map((ip) => `/ip${ip.includes(':') ? 6 : 4}/${ip}/tcp/${actualPort}/p2p/${peerId}`)
}

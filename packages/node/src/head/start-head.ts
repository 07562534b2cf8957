import { randomInt } from 'node:crypto'
import { logger } from '@libp2p/logger'
import { checkPositiveInteger, DEFAULT_UPDATE_LOG_BYTES, InvalidOptionError } from '@meshpool/core'
import { adminRefusal } from '../net/admin-key.js'
import { parseHeadAddress } from '../net/dial.js'
import { hasSecret } from '../net/psk.js'
import { defaultSlots } from '../node/gpus.js'
import { lookupSlotUser } from '../node/slot-user.js'
import { HeadBlobs } from './blobs.js'
import { serveCode } from './code-server.js'
import { reachableAddresses } from './head-addresses.js'
import { DEFAULT_HEAD_KEY_FILE, DEFAULT_HEAD_PORT, type HeadInit, type RunningHead } from './head-options.js'
import { createHeadPeer, type HeadPeer } from './head-peer.js'
import { hangUpLater, serveNodesAndClients } from './head-protocols.js'
import { HeadService } from './head-service.js'
import { HeadWeb } from './head-web.js'
import { LocalSlots } from './local-slots.js'
import { type HeadsView, startHeads } from './standby.js'
import { gossipPublisher } from './update-fanout.js'
import { serveValueRelay } from './value-relay.js'

export { DEFAULT_HEAD_KEY_FILE, DEFAULT_HEAD_PORT, type HeadInit, type RunningHead } from './head-options.js'

const log = logger('meshpool:head')

/** Starts a head: the ledger, the protocols, gossip for updates, and local slots. */
export async function startHead(init: HeadInit): Promise<RunningHead> {
  const port = init.port ?? DEFAULT_HEAD_PORT
  checkPositiveInteger(port, 'port', { allowZero: true })
  checkPositiveInteger(init.slots, 'slots', { allowZero: true })
  checkPositiveInteger(init.maxOpenJobsPerClient, 'maxOpenJobsPerClient')
  const host = init.host ?? '0.0.0.0'
  const keyFile = init.keyFile ?? DEFAULT_HEAD_KEY_FILE
  const slotUser = init.slotUser === undefined ? undefined : lookupSlotUser(init.slotUser)
  const standby = standbyOf(init)
  const slots = init.gpus !== undefined && init.gpus.length > 0 ? init.gpus.length : (init.slots ?? defaultSlots())
  // The web pages and the blobs read the head service, which tells them of jobs and nodes.
  let head: HeadService | undefined
  const web = new HeadWeb(init, () => head as HeadService)
  const note = init.onLine ?? ((line: string) => log(line))
  const headPeer = await createHeadPeer(init, { keyFile, host, port, note })
  const { peer, access, admission, adminKey, adminKeyFile } = headPeer
  const addresses = reachableAddresses(peer.getMultiaddrs().map(String), host, port, peer.peerId.toString())
  const heads = await startHeads({
    peer,
    adminKey,
    adminKeyFile,
    addrs: () => addresses,
    // The head's own local slots are one node of the mesh, but not one that could go to the other head.
    nodes: () => Math.max(0, (head?.stats().nodes ?? 0) - (slots > 0 ? 1 : 0)),
    note,
    log,
    ...standby,
  })
  const blobs = new HeadBlobs(init.updateLogBytes ?? DEFAULT_UPDATE_LOG_BYTES, (nodeId) => head?.whereIs(nodeId))
  const service = headService(init, headPeer, blobs, web, () => heads.view())
  head = service
  service.start()
  await serveNodesAndClients(peer, service, (nodeId) => heads.redirect(nodeId))
  await blobs.serve(peer)
  await serveValueRelay(peer, {
    clientOf: (poolId) => service.clientOf(poolId),
    mayRelay: (peerId) => admission.clientRefusal(peerId) === undefined,
    log,
  })
  // Shipped code is for the nodes and clients the allow-list names, when there is one.
  await serveCode(peer, {
    mayFetch: (peerId) => admission.clientRefusal(peerId) === undefined,
    code: (hash) => service.code(hash),
  })
  const local =
    slots > 0 ? new LocalSlots({ slots, gpus: init.gpus, onLine: init.onLine, keyFile, slotUser, peer }) : undefined
  await local?.start(service)
  const urls = await web.start()
  return {
    peerId: peer.peerId.toString(),
    addresses,
    ...(access.token === undefined ? {} : { token: access.token }),
    ...(adminKey === undefined ? {} : { adminKeyFile }),
    joinCommand: joinCommand(init, access.token, addresses),
    ...urls,
    stats: () => service.stats(),
    heads: () => heads.view(),
    stop: async () => {
      heads.stop()
      web.stop()
      admission.flush()
      service.stop()
      await local?.stop()
      await peer.stop()
    },
  }
}

/** A standby needs the pool's secret of its primary (it can't make a token of its own) and the primary's address. */
function checkStandby(init: HeadInit): void {
  if (init.standby === undefined) return
  parseHeadAddress(init.standby)
  if (!hasSecret(init)) {
    throw new InvalidOptionError(
      "a standby head needs the pool's secret of its primary: set MESHPOOL_TOKEN to the token the primary printed (or the same password or pool key file)",
    )
  }
}

/**
 * The join line. A standby's lists its primary first: the first head's peer
 * id names the mesh and salts its key.
 */
function joinCommand(init: HeadInit, token: string | undefined, addresses: string[]): string {
  const heads = init.standby === undefined ? addresses[0] : `${init.standby} ${addresses[0]}`
  return `${token === undefined ? '' : `MESHPOOL_TOKEN=${token} `}meshpool join ${heads}`
}

/** The standby's options for startHeads, checked. */
function standbyOf(init: HeadInit): { standby?: string } {
  checkStandby(init)
  return init.standby === undefined ? {} : { standby: init.standby }
}

/** The head service of a head on the network: its nodes and clients come over `peer`, updates go out by gossip. */
function headService(
  init: HeadInit,
  { peer, admission, adminKey }: HeadPeer,
  blobs: HeadBlobs,
  web: HeadWeb,
  heads: () => HeadsView,
) {
  return new HeadService({
    heads,
    ...(init.maxAttempts === undefined ? {} : { maxAttempts: init.maxAttempts }),
    onNodeEvent: (event) => {
      if (event.type === 'left') blobs.gone(event.nodeId)
      init.onNodeEvent?.(event)
    },
    ...(init.updateLogBytes === undefined ? {} : { updateLogBytes: init.updateLogBytes }),
    admission,
    adminRefusal: (given) => adminRefusal(adminKey, given),
    ...(init.onLine === undefined ? {} : { onNote: init.onLine }),
    onJobDone: (ms, outcome, poolId) => web.jobDone(ms, outcome, poolId),
    ...(init.maxOpenJobsPerClient === undefined ? {} : { maxOpenJobsPerClient: init.maxOpenJobsPerClient }),
    // Pool ids of their own: the nodes may still know pools of a head that ran before this one.
    firstPoolId: randomInt(1, 2 ** 31),
    disconnect: hangUpLater(peer, log),
    publish: gossipPublisher(peer.services.pubsub, blobs, log),
    onShared: (hash, data) => (data === undefined ? blobs.unpin(hash) : blobs.pin(hash, data)),
    log,
  })
}

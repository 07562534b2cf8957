import { logger } from '@libp2p/logger'
import { checkPositiveInteger, DEFAULT_UPDATE_LOG_BYTES } from '@meshpool/core'
import { adminRefusal } from '../net/admin-key.js'
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
import { gossipPublisher } from './update-fanout.js'

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
  // The web pages and the blobs read the head service, which tells them of jobs and nodes.
  let head: HeadService | undefined
  const web = new HeadWeb(init, () => head as HeadService)
  const note = init.onLine ?? ((line: string) => log(line))
  const headPeer = await createHeadPeer(init, { keyFile, host, port, note })
  const { peer, access, admission, adminKey, adminKeyFile } = headPeer
  const blobs = new HeadBlobs(init.updateLogBytes ?? DEFAULT_UPDATE_LOG_BYTES, (nodeId) => head?.whereIs(nodeId))
  const service = headService(init, headPeer, blobs, web)
  head = service
  service.start()
  await serveNodesAndClients(peer, service)
  await blobs.serve(peer)
  // Shipped code is for the nodes and clients the allow-list names, when there is one.
  await serveCode(peer, {
    mayFetch: (peerId) => admission.clientRefusal(peerId) === undefined,
    code: (hash) => service.code(hash),
  })
  const slots = init.gpus !== undefined && init.gpus.length > 0 ? init.gpus.length : (init.slots ?? defaultSlots())
  const local =
    slots > 0 ? new LocalSlots({ slots, gpus: init.gpus, onLine: init.onLine, keyFile, slotUser }) : undefined
  await local?.start(service)
  const urls = await web.start()
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
    ...urls,
    stats: () => service.stats(),
    stop: async () => {
      web.stop()
      admission.flush()
      service.stop()
      await local?.stop()
      await peer.stop()
    },
  }
}

/** The head service of a head on the network: its nodes and clients come over `peer`, updates go out by gossip. */
function headService(init: HeadInit, { peer, admission, adminKey }: HeadPeer, blobs: HeadBlobs, web: HeadWeb) {
  return new HeadService({
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
    disconnect: hangUpLater(peer, log),
    publish: gossipPublisher(peer.services.pubsub, blobs, log),
    log,
  })
}

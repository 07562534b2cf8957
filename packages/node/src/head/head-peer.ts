import { dirname, join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { UPDATES_TOPIC } from '@meshpool/core'
import { ADMIN_KEY_FILE, loadOrCreateAdminKey } from '../net/admin-key.js'
import { headIdOf } from '../net/dial.js'
import { loadOrCreateIdentity } from '../net/identity.js'
import { createPeer, type MeshPeer } from '../net/peer.js'
import { hasSecret, loadOrCreatePoolToken, type PoolAccess, poolSecret, swarmKey } from '../net/psk.js'
import { Admission } from './admission.js'
import { listenAddress } from './head-addresses.js'
import type { HeadInit } from './head-options.js'
import { refusalLog } from './refusal-log.js'

/** The head's join token, beside its identity file, when it was started with no secret of its own. */
const POOL_TOKEN_FILE = 'pool.token'

/** The head's peer and what it keeps beside its identity file. */
export interface HeadPeer {
  peer: MeshPeer
  /** The pool's secret: the one given, or the head's own token. */
  access: PoolAccess
  admission: Admission
  /** The admin key (undefined: it could not be written), and its file. */
  adminKey: string | undefined
  adminKeyFile: string
}

export interface HeadPeerOptions {
  keyFile: string
  host: string
  port: number
  /** The head's log. */
  note: (line: string) => void
}

/**
 * The head's libp2p peer, listening and subscribed to updates: its identity
 * and pool secret, its admission (who is revoked or not allowed is refused at
 * the handshake) and its admin key, all kept beside the identity file.
 */
export async function createHeadPeer(
  init: HeadInit,
  { keyFile, host, port, note }: HeadPeerOptions,
): Promise<HeadPeer> {
  const dir = dirname(keyFile)
  const privateKey = await loadOrCreateIdentity(keyFile)
  // No secret given: the head's own random token (kept beside its identity), printed in its join line.
  const access: PoolAccess = hasSecret(init)
    ? init
    : { token: await loadOrCreatePoolToken(join(dir, POOL_TOKEN_FILE)), poolName: init.poolName }
  const headId = peerIdFromPrivateKey(privateKey).toString()
  const admission = new Admission(dir, { headId, allowPeersFile: init.allowPeersFile, onNote: note })
  const adminKeyFile = join(dir, ADMIN_KEY_FILE)
  const adminKey = await loadOrCreateAdminKey(adminKeyFile, note)
  const peer = await createPeer({
    // A standby derives its primary's key: the first head's peer id names the mesh.
    psk: swarmKey(poolSecret(access, init.standby === undefined ? headId : headIdOf(init.standby))),
    privateKey,
    listen: [listenAddress(host, port)],
    refuse: (peerId) => admission.handshakeRefusal(peerId),
    onRefused: refusalLog(note),
    publisher: true,
  })
  peer.services.pubsub.subscribe(UPDATES_TOPIC)
  return { peer, access, admission, adminKey, adminKeyFile }
}

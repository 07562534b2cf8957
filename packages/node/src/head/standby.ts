import { peerIdFromString } from '@libp2p/peer-id'
import { type HeadsInfo, InvalidOptionError } from '@meshpool/core'
import type { MeshPeer } from '../net/peer.js'
import type { HeadLog } from './head-types.js'
import { HeadsLink } from './standby-link.js'
import { HeadRole } from './standby-role.js'

/** Which head is active, as status and the dashboard show it (see HeadsInfo). */
export type HeadsView = HeadsInfo

export interface HeadsInit {
  peer: MeshPeer
  /** `--standby <address>`: start as the standby of the head there. */
  standby?: string
  /** The mesh's admin key (undefined: none could be written, so this head can't prove itself to another). */
  adminKey: string | undefined
  adminKeyFile: string
  /** Where nodes and clients reach this head. */
  addrs: () => string[]
  /** How many nodes this head holds, its own local slots not counted (see HeadRole). */
  nodes: () => number
  note: (line: string) => void
  log: HeadLog
}

/** The role of a head among the heads of its mesh, and the link that keeps it. */
export interface Heads {
  /**
   * undefined while active; else where nodes and clients should go (the
   * active head, when known). `nodeId`: a node came, which counts toward a
   * takeover (and may make this head active, to serve it).
   */
  redirect(nodeId?: string): { active: string | undefined } | undefined
  view(): HeadsView
  stop(): void
}

/**
 * Starts the heads link of a head: every head answers the others, and one
 * started with `--standby` watches its primary. A head that steps down
 * hangs up on its nodes and clients, which then dial the active head.
 */
export async function startHeads(init: HeadsInit): Promise<Heads> {
  const { peer, adminKey, note } = init
  if (adminKey === undefined && init.standby !== undefined) {
    throw new InvalidOptionError(
      `a standby head proves itself to the others with the mesh's admin key, and ${init.adminKeyFile} can't be written or read; copy the primary's admin.key there (mode 0600)`,
    )
  }
  const self = peer.peerId.toString()
  const role: HeadRole = new HeadRole({
    peerId: self,
    standby: init.standby !== undefined,
    addrs: init.addrs,
    nodes: init.nodes,
    onNote: note,
    onChange: (active, why) => {
      note(why)
      if (!active) hangUpAllBut(peer, role.activePeer, init.log)
    },
  })
  const link =
    adminKey === undefined
      ? undefined
      : new HeadsLink({
          peer,
          role,
          adminKey,
          note,
          log: init.log,
          ...(init.standby === undefined ? {} : { watch: init.standby }),
        })
  await link?.start()
  return {
    redirect: (nodeId) =>
      (nodeId === undefined ? role.active : role.knocked(nodeId)) ? undefined : { active: role.activeAddress },
    view: () => {
      const { since, takeovers } = role.state()
      const activePeer = role.activePeer
      return {
        peerId: self,
        active: role.active,
        since,
        takeovers,
        ...(activePeer === undefined ? {} : { activePeer }),
      }
    },
    stop: () => link?.stop(),
  }
}

/** A head that stepped down cuts off its nodes and clients (they go to the active head), but not the other head. */
function hangUpAllBut(peer: MeshPeer, keep: string | undefined, log: HeadLog): void {
  const peers = new Set(peer.getConnections().map((c) => c.remotePeer.toString()))
  for (const id of peers) {
    if (id === keep) continue
    peer.hangUp(peerIdFromString(id)).catch((err: Error) => log('hang up %s: %s', id, err.message))
  }
}

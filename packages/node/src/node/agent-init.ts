import type { Logger } from '@libp2p/interface'
import type { PeerInfo, PoolSpec } from '@meshpool/core'
import type { GpuInfo } from '../worker-types.js'
import type { ClientRoutes } from './client-routes.js'
import type { NodeShares } from './node-shares.js'
import type { SlotChild, SlotProcessEvents } from './slot-process.js'
import type { SlotUser } from './slot-user.js'

/** What a {@link NodeAgent} is made with. */
export interface NodeAgentInit {
  /** CPU slots; ignored when `gpus` names any. */
  slots: number
  name: string
  /** One slot per GPU, each seeing only its own (`CUDA_VISIBLE_DEVICES`). */
  gpus?: readonly GpuInfo[]
  /** Where a slot imports a pool's worker from: shipped code is fetched and cached first. @default the client's path */
  modulePath?: (spec: PoolSpec) => Promise<string>
  /** The node's own log: what its workers print (prefixed with node and slot) and notes about pools. */
  onLine?: (line: string) => void
  /** Where other nodes can reach this one, told to the head in `hello`. */
  addrs?: () => string[]
  /** Other nodes the head named, to keep as mesh neighbours. */
  onPeers?: (peers: PeerInfo[]) => void
  /** Peers the head revoked (this node among them, maybe). */
  onRevoked?: (peerIds: string[]) => void
  /** The head's allow-list: the only peers this node may let in. */
  onAllowed?: (peerIds: string[]) => void
  /** The head asks this node to leave gracefully (`meshpool stop`). */
  onStopAsked?: () => void
  /**
   * Lines a worker printed once no head serves its pool (its `dispose()` after the
   * pool closed, or as the node stops without a head): they go to the node's log,
   * and here. The embedded pool passes them to its own output.
   */
  onLateLine?: (line: string) => void
  /** Slot processes run as this user (`--slot-user`). @default the node's own user */
  slotUser?: SlotUser
  /** The agent's debug log. @default `meshpool:node:<name>` */
  log?: Logger
  /** The shared values (pool.share) this node holds, and where it fetches more. @default none to be had */
  shares?: NodeShares
  /** How this node reaches pools' clients, for big params and results (see BlobRef). @default it can't: both go in frames */
  routes?: ClientRoutes
  /** Makes slot `index`'s process (not started). @default a {@link SlotProcess} */
  slotProcess?: (index: number, events: SlotProcessEvents) => SlotChild
}

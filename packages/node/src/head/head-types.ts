import type {
  ClientMessage,
  ClientOutcome,
  ErrorShape,
  GpuSummary,
  HeadsInfo,
  HeadToClientMessage,
  HeadToNodeMessage,
  LedgerCounts,
  NodeMessage,
  PoolSpec,
  SlotStateName,
  UpdateEntry,
  UpdateLog,
} from '@meshpool/core'
import type { Channel } from '../net/channel.js'

/** The shapes the head service works with: its options, and what it keeps per node and per pool. */

/** The head's debug log (printf-style, as @libp2p/logger's); injected so several heads in one process tell apart. */
export type HeadLog = (format: string, ...args: unknown[]) => void

/** Calls `tick` every `ms` until the returned function is called (setInterval, unless a test drives time). */
export type Repeat = (tick: () => void, ms: number) => () => void

export interface HeadServiceInit {
  /** The clock for leases, retries and the head's notes, injected so tests drive it without sleeping. */
  now?: () => number
  /** What runs the lease clock's tick. @default setInterval (unref'd) */
  repeat?: Repeat
  /** The debug log. @default logger('meshpool:head') */
  log?: HeadLog
  maxAttempts?: number
  /** Publishes an update to the nodes that listen on gossip (remote nodes). */
  publish?: (entry: UpdateEntry) => void
  /** Told when a node joins or leaves, for the head's own output. */
  onNodeEvent?: (event: NodeEvent) => void
  /** Bytes of updates each pool's log keeps for nodes that join late. @default 64 MiB */
  updateLogBytes?: number
  /** Who may join as a node, and who is revoked (see Admission); none: any peer with the password. */
  admission?: NodeAdmission
  /**
   * Why a revoke or stop that carries this admin key is refused (see adminRefusal);
   * none: anyone may (an embedded head, in the caller's own process).
   */
  adminRefusal?: (adminKey: string | undefined) => string | undefined
  /** Cuts every connection to a peer (a revoked or refused node). */
  disconnect?: (peerId: string) => void
  /** Most jobs one client may have open (queued, running, waiting to retry). @default MAX_OPEN_JOBS_PER_CLIENT */
  maxOpenJobsPerClient?: number
  /** The id of the first pool a client opens here (see PoolRegistryInit.firstPoolId). @default 1 */
  firstPoolId?: number
  /** The head's own log: refused and revoked peers, and what it ignored from a peer (a line each). */
  onNote?: (line: string) => void
  /** Told of each job's outcome and its time from submit, in ms (for metrics and the dashboard). */
  onJobDone?: (ms: number, outcome: ClientOutcome, poolId: number) => void
  /**
   * An embedded head: no node joins but its own, so once every slot is broken
   * the open jobs fail (WorkerLostError) instead of waiting for a node. @default false
   */
  alone?: boolean
  /** Which head of the mesh is active, for `meshpool status` and the dashboard; none: a head with no standby link. */
  heads?: () => HeadsInfo
  /** Most bytes of shared values (`pool.share`) the head keeps for all pools. @default MAX_SHARED_BYTES */
  sharedBytes?: number
  /** A shared value is held now (its bytes), or is gone (undefined): for the blob server that nodes fetch from. */
  onShared?: (hash: string, data: Uint8Array | undefined) => void
}

/** The head's rules for nodes: see Admission. */
export interface NodeAdmission {
  refusal(peerId: string): string | undefined
  clientRefusal(peerId: string): string | undefined
  revokeRefusal(peerId: string): string | undefined
  /** The --allow-peers list, sent to nodes (undefined without one). */
  allowedIds(): string[] | undefined
  admitted(peerId: string, name: string): void
  revoke(peerId: string): boolean
  revokedIds(): string[]
}

export interface NodeEvent {
  type: 'joined' | 'left'
  nodeId: string
  name: string
  slots: number
  /** Why a node left, when it did not say goodbye. */
  reason?: string
}

export interface NodeSession {
  id: string
  name: string
  slots: number
  /** Jobs the node has asked for and not yet been given. */
  wanted: number
  channel: Channel<NodeMessage, HeadToNodeMessage>
  poolsSent: Set<number>
  /** In-process nodes get updates on their channel instead of gossip. */
  local: boolean
  /** Its leases ran out: it gets no jobs until a heartbeat shows it is back. */
  silent: boolean
  /** Pools whose worker can't start on this node: it is leased none of their jobs. PoolReach changes both. */
  unloadable: Map<number, ErrorShape>
  /** Where other nodes can reach it (empty: nowhere; it only dials out). */
  addrs: string[]
  /** The IP address its connection came from (none for local slots). */
  remoteIp: string | undefined
  /** Its slots' GPUs (none: CPU slots), and what each slot did at its last heartbeat. */
  gpus: GpuSummary[]
  slotStates: SlotStateName[]
  /** Results it reported that were taken, and failures. */
  done: number
  failed: number
  joinedAt: number
  lastHeartbeat: number
  /** The pools' latest updates as the head last told them to the node (see UpdateFanout.sendSeqs). */
  seqsTold?: string
}

export interface PoolSession {
  spec: PoolSpec
  channel: Channel<ClientMessage, HeadToClientMessage>
  log: UpdateLog
  /** The client wants to hear when each job is leased (progress 0). */
  watching: boolean
  /** Its weight in the fair shares of slots: 2^priority (see weightOf). */
  weight: number
  /** The client's peer id (none: in this process). */
  clientPeer?: string
}

export interface HeadStats {
  nodes: number
  workers: number
  queued: number
  leased: number
  pools: number
}

/** What the head's metrics read, at one moment. */
export interface HeadSnapshot {
  counts: LedgerCounts
  nodes: number
  slots: Record<SlotStateName, number>
  pools: Array<{ poolId: number; updateSeq: number; updateLogBytes: number }>
  /** Which head of the mesh is active (a head with a standby link). */
  heads?: HeadsInfo
}

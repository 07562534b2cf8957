import type { ErrorShape } from '../errors.js'
import {
  addrList,
  bool,
  bytes,
  type Check,
  errorShapeCheck,
  type FrameLimits,
  fraction,
  gpuSummary,
  hash,
  ids,
  list,
  message,
  optional,
  outcome,
  peerInfo,
  shape,
  slotCount,
  slotState,
  str,
  uint,
} from './checks.js'
import { HELLO_FRAME_BYTES, MAX_SLOTS_PER_NODE, MEDIUM_FRAME_BYTES, SMALL_FRAME_BYTES } from './limits.js'

/** Protocol ids. The version is part of the id: a peer of another major version is refused. */
export const WORK_PROTOCOL = '/meshpool/work/1.0.0'
export const UPDATES_TOPIC = 'meshpool/updates/1'

/** A job as the head leases it to a node. */
export interface LeasedJob {
  jobId: number
  leaseId: number
  poolId: number
  attempt: number
  /** The pool's update number that was current when the job was leased. */
  updateSeq: number
  /** Run time limit in ms; 0 for none. */
  timeoutMs: number
  params: Uint8Array
}

/** What a node reports for one lease. `lost` marks a slot that died under the job. */
export type JobOutcome =
  | { jobId: number; leaseId: number; ok: true; value: Uint8Array }
  | { jobId: number; leaseId: number; ok: false; error: ErrorShape; lost?: boolean }

/** One entry of a pool's update log. */
export interface UpdateEntry {
  poolId: number
  seq: number
  value: Uint8Array
}

/** What a node needs to start a pool's worker in a slot. */
export interface PoolSpec {
  poolId: number
  /** The worker module's path on the client (a node loads it from there unless the code is shipped). */
  worker: string
  init: Uint8Array
  /** Nodes renew leases of this pool's jobs at a fraction of this. */
  leaseMs: number
  /** Shipped code: the sha-256 (hex) of the bundled module, fetched over {@link CODE_PROTOCOL}. */
  codeHash?: string
  /** A slot process that has run this many jobs is replaced before its next one. */
  maxJobsPerSlot?: number
  /** The pool's client, where it listens: nodes fetch big params (see BlobRef) from it. */
  client?: PeerInfo
}

/** How far a running job has got, as its worker said through ctx.progress. */
export interface JobProgress {
  jobId: number
  leaseId: number
  fraction: number
}

/** Another node of the mesh, as the head knows it: where it listens. */
export interface PeerInfo {
  peerId: string
  addrs: string[]
}

/** An update too big for gossip: its number, and the sha-256 (hex) of its bytes to fetch over {@link BLOB_PROTOCOL}. */
export interface AnnouncedUpdate {
  poolId: number
  seq: number
  hash?: string
}

/** A node's GPU, as `meshpool status` shows it (slot i runs on gpus[i]). */
export interface GpuSummary {
  index: number
  name: string
  memoryMB: number
}

/** What a slot is doing: idle, running a job, loading or disposing of a worker, restarting, or broken. */
export type SlotStateName = 'idle' | 'busy' | 'loading' | 'down' | 'broken'

/** Node → head on {@link WORK_PROTOCOL}. */
export type NodeMessage =
  /** `addrs`: where other nodes can reach this one (with /p2p/), for the mesh; `gpus`: its slots' GPUs. */
  | { type: 'hello'; name: string; slots: number; addrs?: string[]; gpus?: GpuSummary[] }
  /** The node has fewer mesh neighbours than it wants: the head answers with `peers`. */
  | { type: 'findPeers' }
  | { type: 'pull'; n: number }
  | { type: 'results'; results: JobOutcome[] }
  | { type: 'catchup'; poolId: number; from: number }
  /** `slotStates`: what each slot is doing now, for `meshpool status`. */
  | { type: 'heartbeat'; slotStates?: SlotStateName[] }
  | { type: 'release'; jobIds: number[] }
  /** The node's working slots changed (a slot broke). */
  | { type: 'slots'; slots: number }
  /** The pool's worker can't start on this node (its jobs here were released): lease it none. */
  | { type: 'loadFailed'; poolId: number; error: ErrorShape }
  /** Lines a pool's worker printed, prefixed with node and slot. */
  | { type: 'output'; poolId: number; lines: string[] }
  | { type: 'progress'; progress: JobProgress[] }

/** Head → node on {@link WORK_PROTOCOL}. */
export type HeadToNodeMessage =
  | { type: 'welcome'; nodeId: string }
  | { type: 'pool'; pool: PoolSpec }
  | { type: 'lease'; jobs: LeasedJob[] }
  /**
   * `dropped`: a catch-up found the pool's log no longer holding its updates up to
   * `through` (its byte budget). `announced`: updates too big for gossip, named so
   * that nodes fetch them from the head at once. `live`: sent as the client
   * updated, not in answer to a catch-up.
   */
  | {
      type: 'updates'
      entries: UpdateEntry[]
      live?: boolean
      dropped?: { poolId: number; through: number }
      announced?: AnnouncedUpdate[]
    }
  /** Some other nodes, for the node to keep connections to (the gossip mesh). */
  | { type: 'peers'; peers: PeerInfo[] }
  /** Peers revoked from the mesh: refuse and drop them (a node that finds itself named leaves). */
  | { type: 'revoked'; peerIds: string[] }
  /**
   * The head's --allow-peers list (with the head itself): the only peers a node
   * lets in, so that a peer with the pool key but not on the list can't reach
   * the nodes' gossip or blobs either.
   */
  | { type: 'allowed'; peerIds: string[] }
  /** The head won't have this node (not in its --allow-peers list): it should not try again. */
  | { type: 'refused'; message: string }
  /** Finish the running jobs, give the others back, and leave (`meshpool stop`). */
  | { type: 'stop' }
  /**
   * `closedPools`: pools whose client closed or went away: their jobs here are
   * among `jobIds`, and slots dispose of their workers. (A field, not a message
   * type of its own, so that nodes of older versions take the frame too.)
   * `unshared`: shared values (by hash) no pool holds any more: nodes drop their copies.
   */
  | { type: 'cancel'; jobIds: number[]; closedPools?: number[]; unshared?: string[] }
  /**
   * The answer to a heartbeat: the latest update number of each pool the node
   * has, so a node that missed gossip (and has no job to show it) catches up.
   */
  | { type: 'seqs'; seqs: Array<{ poolId: number; seq: number }> }
  /** This head is a standby of its mesh (see heads.ts): go to the active head, `active` when it knows one. */
  | { type: 'standby'; active?: string }

const leasedJob = shape({
  jobId: uint,
  leaseId: uint,
  poolId: uint,
  attempt: uint,
  updateSeq: uint,
  timeoutMs: uint,
  params: bytes,
})
const updateEntry = shape({ poolId: uint, seq: uint, value: bytes })

/** What the head takes on {@link WORK_PROTOCOL}. */
export const nodeMessages: Record<NodeMessage['type'], Check> = {
  hello: message({
    name: str,
    slots: slotCount,
    addrs: optional(addrList),
    gpus: optional(list(gpuSummary, MAX_SLOTS_PER_NODE)),
  }),
  findPeers: message({}),
  pull: message({ n: uint }),
  results: message({ results: list(outcome('jobId', { leaseId: uint })) }),
  catchup: message({ poolId: uint, from: uint }),
  heartbeat: message({ slotStates: optional(list(slotState, MAX_SLOTS_PER_NODE)) }),
  release: message({ jobIds: ids }),
  slots: message({ slots: slotCount }),
  loadFailed: message({ poolId: uint, error: errorShapeCheck }),
  output: message({ poolId: uint, lines: list(str) }),
  progress: message({ progress: list(shape({ jobId: uint, leaseId: uint, fraction: fraction })) }),
}
export const nodeMessageLimits: FrameLimits<NodeMessage['type']> = {
  hello: HELLO_FRAME_BYTES,
  findPeers: SMALL_FRAME_BYTES,
  pull: SMALL_FRAME_BYTES,
  catchup: SMALL_FRAME_BYTES,
  heartbeat: SMALL_FRAME_BYTES,
  slots: SMALL_FRAME_BYTES,
  release: MEDIUM_FRAME_BYTES,
  loadFailed: MEDIUM_FRAME_BYTES,
  output: MEDIUM_FRAME_BYTES,
  progress: MEDIUM_FRAME_BYTES,
}

/** What a node takes on {@link WORK_PROTOCOL} (and on the updates topic). */
export const headToNodeMessages: Record<HeadToNodeMessage['type'], Check> = {
  welcome: message({ nodeId: str }),
  pool: message({
    pool: shape({
      poolId: uint,
      worker: str,
      init: bytes,
      leaseMs: uint,
      codeHash: optional(hash),
      maxJobsPerSlot: optional(uint),
      client: optional(peerInfo),
    }),
  }),
  lease: message({ jobs: list(leasedJob) }),
  updates: message({
    entries: list(updateEntry),
    live: optional(bool),
    dropped: optional(shape({ poolId: uint, through: uint })),
    announced: optional(list(shape({ poolId: uint, seq: uint, hash: optional(hash) }))),
  }),
  peers: message({ peers: list(peerInfo) }),
  revoked: message({ peerIds: list(str) }),
  allowed: message({ peerIds: list(str) }),
  refused: message({ message: str }),
  stop: message({}),
  cancel: message({ jobIds: ids, closedPools: optional(ids), unshared: optional(list(hash)) }),
  seqs: message({ seqs: list(shape({ poolId: uint, seq: uint })) }),
  standby: message({ active: optional(str) }),
}
export const headToNodeLimits: FrameLimits<HeadToNodeMessage['type']> = {
  welcome: SMALL_FRAME_BYTES,
  peers: MEDIUM_FRAME_BYTES,
  revoked: MEDIUM_FRAME_BYTES,
  allowed: MEDIUM_FRAME_BYTES,
  refused: SMALL_FRAME_BYTES,
  stop: SMALL_FRAME_BYTES,
  cancel: MEDIUM_FRAME_BYTES,
  seqs: MEDIUM_FRAME_BYTES,
  standby: SMALL_FRAME_BYTES,
}

import { type ErrorShape, FrameError } from '../errors.js'
import { MAX_PRIORITY } from '../options.js'
import {
  addrList,
  bool,
  bytes,
  type Check,
  type FrameLimits,
  fraction,
  gpuSummary,
  hash,
  ids,
  list,
  message,
  optional,
  outcome,
  shape,
  slotState,
  str,
  uint,
} from './checks.js'
import { MEDIUM_FRAME_BYTES, SMALL_FRAME_BYTES } from './limits.js'
import type { GpuSummary, SlotStateName } from './work.js'

/** Protocol id (the version is part of it: a peer of another major version is refused). */
export const CLIENT_PROTOCOL = '/meshpool/client/1.0.0'

/** What the head reports to a client for one of its jobs. */
export type ClientOutcome =
  | { id: number; ok: true; value: Uint8Array }
  | { id: number; ok: false; error: ErrorShape; where?: string }

/** What a client asks of its pool's leases and retries; the head's defaults fill the rest. */
export interface PoolSettingsWire {
  maxJobsPerSlot?: number
  maxAttempts?: number
  retries?: number
  leaseMs?: number
  /** The pool's share of the slots weighs 2^priority (-MAX_PRIORITY to MAX_PRIORITY; none: 0). */
  priority?: number
}

/** A job as a client submits it. */
export interface SubmittedJob {
  id: number
  params: Uint8Array
  /** Run time limit in ms; absent or 0 for none. */
  timeoutMs?: number
}

/** One node of the mesh, as the head sees it (`pool.listWorkers()`, `meshpool status`). */
export interface NodeInfo {
  nodeId: string
  name: string
  addrs: string[]
  slots: Array<{ index: number; state: SlotStateName; gpu?: GpuSummary }>
  /** Jobs whose result this node reported, and jobs that failed on it. */
  done: number
  failed: number
  /** When the node joined and last renewed its leases (ms since the epoch, head's clock). */
  joinedAt: number
  lastHeartbeat: number
}

/** Client → head on {@link CLIENT_PROTOCOL}. */
export type ClientMessage =
  /**
   * `code`: the bundled worker module, shipped to the nodes. `addrs`: where the client
   * listens (with /p2p/), so nodes fetch its jobs' big params from it directly.
   */
  | { type: 'open'; worker: string; init: Uint8Array; settings: PoolSettingsWire; code?: Uint8Array; addrs?: string[] }
  | { type: 'submit'; jobs: SubmittedJob[] }
  | { type: 'cancel'; ids: number[] }
  | { type: 'update'; reqId: number; value: Uint8Array }
  /**
   * A value for jobs to refer to by hash (`pool.share`): the head keeps it until `unshare` or the
   * pool closes. One over VALUE_PART_BYTES comes in parts, in order: `value` is the part at
   * `offset` of `total` bytes.
   */
  | { type: 'share'; reqId: number; value: Uint8Array; offset?: number; total?: number }
  | { type: 'unshare'; hashes: string[] }
  | { type: 'stats'; reqId: number }
  /** Tell the client when each of its jobs is leased (progress 0), for progress bars; off by default. */
  | { type: 'watch'; on: boolean }
  /**
   * Disconnect this node and refuse it from now on (allowed before `open`: `meshpool revoke`).
   * `adminKey`: the head's admin key (its `admin.key` file); without it the head refuses.
   */
  | { type: 'revoke'; reqId: number; peerId: string; adminKey?: string }
  /** Every node of the mesh (allowed before `open`: `meshpool status`). */
  | { type: 'nodes'; reqId: number }
  /** Stop these nodes gracefully (allowed before `open`: `meshpool stop`); `adminKey` as for `revoke`. */
  | { type: 'stopNodes'; reqId: number; nodeIds: string[]; adminKey?: string }

/** Which head of a mesh is active: the head that answers says what it is, and who is active as it knows. */
export interface HeadsInfo {
  /** The head that answered. */
  peerId: string
  active: boolean
  /** The active head's peer id, when known (the answering head's own when it is active). */
  activePeer?: string
  /** When the answering head became active or standby (ms since the epoch, its clock). */
  since: number
  /** Takeovers the mesh has had, as far as this head knows. */
  takeovers: number
}

/** Head → client on {@link CLIENT_PROTOCOL}. */
export type HeadToClientMessage =
  /** `maxOpenJobs`: the most jobs this client may have open here; it holds back the rest. */
  | { type: 'opened'; poolId: number; maxOpenJobs?: number }
  /**
   * `room`: jobs that nodes asked for when the head had none queued to give
   * them, a hint that the client's window (not the mesh) holds the pool back.
   */
  | { type: 'results'; results: ClientOutcome[]; room?: number }
  | { type: 'updated'; reqId: number; seq: number }
  /** The head holds the shared value by this hash now; `refused` says why it does not. */
  | { type: 'shared'; reqId: number; hash?: string; refused?: string }
  | { type: 'stats'; reqId: number; workers: number; nodes: number }
  | { type: 'refused'; message: string }
  /** Lines the pool's workers printed, and notes about the pool from the mesh. */
  | { type: 'output'; lines: string[] }
  | { type: 'progress'; progress: Array<{ id: number; fraction: number }> }
  /** A revoke is done; `known`: the peer had joined this head at some time. `refused`: it was not done, and why. */
  | { type: 'revoked'; reqId: number; peerId: string; known: boolean; refused?: string }
  /** `heads`: which head of the mesh is active, as the head asked knows it (heads of older versions leave it out). */
  | { type: 'nodes'; reqId: number; nodes: NodeInfo[]; queued: number; leased: number; heads?: HeadsInfo }
  /** `stopping`: those of the nodes asked for that were here and are leaving. `refused`: none was asked, and why. */
  | { type: 'stopping'; reqId: number; nodeIds: string[]; refused?: string }
  /** This head is a standby of its mesh (see heads.ts): go to the active head, `active` when it knows one. */
  | { type: 'standby'; active?: string }

/** A pool's priority: a number from -MAX_PRIORITY to MAX_PRIORITY. */
const priority: Check = (v, at) => {
  if (typeof v !== 'number' || !(Math.abs(v) <= MAX_PRIORITY)) {
    throw new FrameError(`malformed frame: ${at} should be a number from -${MAX_PRIORITY} to ${MAX_PRIORITY}`)
  }
}

const nodeInfo = shape({
  nodeId: str,
  name: str,
  addrs: addrList,
  slots: list(shape({ index: uint, state: slotState, gpu: optional(gpuSummary) })),
  done: uint,
  failed: uint,
  joinedAt: uint,
  lastHeartbeat: uint,
})

/** What the head takes on {@link CLIENT_PROTOCOL}. */
export const clientMessages: Record<ClientMessage['type'], Check> = {
  open: message({
    worker: str,
    init: bytes,
    settings: shape({
      maxAttempts: optional(uint),
      retries: optional(uint),
      leaseMs: optional(uint),
      maxJobsPerSlot: optional(uint),
      priority: optional(priority),
    }),
    code: optional(bytes),
    addrs: optional(addrList),
  }),
  submit: message({ jobs: list(shape({ id: uint, params: bytes, timeoutMs: optional(uint) })) }),
  cancel: message({ ids }),
  update: message({ reqId: uint, value: bytes }),
  share: message({ reqId: uint, value: bytes, offset: optional(uint), total: optional(uint) }),
  unshare: message({ hashes: list(hash) }),
  stats: message({ reqId: uint }),
  watch: message({ on: bool }),
  revoke: message({ reqId: uint, peerId: str, adminKey: optional(str) }),
  nodes: message({ reqId: uint }),
  stopNodes: message({ reqId: uint, nodeIds: list(str), adminKey: optional(str) }),
}
export const clientMessageLimits: FrameLimits<ClientMessage['type']> = {
  cancel: MEDIUM_FRAME_BYTES,
  unshare: MEDIUM_FRAME_BYTES,
  stats: SMALL_FRAME_BYTES,
  watch: SMALL_FRAME_BYTES,
  revoke: SMALL_FRAME_BYTES,
  nodes: SMALL_FRAME_BYTES,
  stopNodes: MEDIUM_FRAME_BYTES,
}

/** What a client takes on {@link CLIENT_PROTOCOL}. */
export const headToClientMessages: Record<HeadToClientMessage['type'], Check> = {
  opened: message({ poolId: uint, maxOpenJobs: optional(uint) }),
  results: message({ results: list(outcome('id', {})), room: optional(uint) }),
  updated: message({ reqId: uint, seq: uint }),
  shared: message({ reqId: uint, hash: optional(hash), refused: optional(str) }),
  stats: message({ reqId: uint, workers: uint, nodes: uint }),
  refused: message({ message: str }),
  output: message({ lines: list(str) }),
  progress: message({ progress: list(shape({ id: uint, fraction: fraction })) }),
  revoked: message({ reqId: uint, peerId: str, known: bool, refused: optional(str) }),
  nodes: message({
    reqId: uint,
    nodes: list(nodeInfo),
    queued: uint,
    leased: uint,
    heads: optional(shape({ peerId: str, active: bool, activePeer: optional(str), since: uint, takeovers: uint })),
  }),
  stopping: message({ reqId: uint, nodeIds: list(str), refused: optional(str) }),
  standby: message({ active: optional(str) }),
}
export const headToClientLimits: FrameLimits<HeadToClientMessage['type']> = {
  opened: SMALL_FRAME_BYTES,
  updated: SMALL_FRAME_BYTES,
  shared: SMALL_FRAME_BYTES,
  stats: SMALL_FRAME_BYTES,
  refused: SMALL_FRAME_BYTES,
  output: MEDIUM_FRAME_BYTES,
  progress: MEDIUM_FRAME_BYTES,
  revoked: SMALL_FRAME_BYTES,
  nodes: MEDIUM_FRAME_BYTES,
  stopping: MEDIUM_FRAME_BYTES,
  standby: SMALL_FRAME_BYTES,
}

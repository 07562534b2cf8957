import { Encoder } from 'cbor-x'
import { scanCbor } from './cbor-scan.js'
import type { ErrorShape } from './errors.js'
import { FrameError } from './errors.js'
import { type Check, frameLimits } from './wire-checks.js'
import { MAX_BATCH_ITEMS } from './wire-limits.js'

/** Protocol ids. The version is part of the id: a peer of another major version is refused. */
export const WORK_PROTOCOL = '/meshpool/work/1.0.0'
export const CLIENT_PROTOCOL = '/meshpool/client/1.0.0'
/** Nodes fetch shipped worker code from the head by its hash. */
export const CODE_PROTOCOL = '/meshpool/code/1.0.0'
/** Every peer serves the big updates it holds, by hash: nodes fetch them from the head or from each other. */
export const BLOB_PROTOCOL = '/meshpool/blob/1.0.0'
export const UPDATES_TOPIC = 'meshpool/updates/1'

/** Largest frame any meshpool protocol accepts, in bytes. */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024
/** Updates bigger than this are announced on gossip (number and hash) and fetched as blobs. */
export const GOSSIP_INLINE_BYTES = 1024 * 1024
/** Senders close a batch frame once its payloads pass this many bytes. */
export const BATCH_SOFT_BYTES = 1024 * 1024
/**
 * Most jobs a client may have open on the head at once: a client past it keeps
 * further jobs to itself until results come back (backpressure); the head
 * refuses a client that sends more.
 */
export const MAX_OPEN_JOBS_PER_CLIENT = 1_000_000
export { MAX_BATCH_ITEMS, MAX_SLOTS_PER_NODE } from './wire-limits.js'
/**
 * What any frame may hold, checked before it is decoded: nesting depth, and
 * arrays and maps in all (each becomes an object). A full batch needs a few
 * per item; a frame of millions of empty maps is refused unread.
 */
export const FRAME_BUDGET = { maxDepth: 16, maxContainers: 4 * MAX_BATCH_ITEMS + 4096 } as const

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

/** What the head reports to a client for one of its jobs. */
export type ClientOutcome =
  | { id: number; ok: true; value: Uint8Array }
  | { id: number; ok: false; error: ErrorShape; where?: string }

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
}

/** How far a running job has got, as its worker said through ctx.progress. */
export interface JobProgress {
  jobId: number
  leaseId: number
  fraction: number
}

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
   * that nodes fetch them from the head at once.
   */
  | {
      type: 'updates'
      entries: UpdateEntry[]
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
   */
  | { type: 'cancel'; jobIds: number[]; closedPools?: number[] }
  /**
   * The answer to a heartbeat: the latest update number of each pool the node
   * has, so a node that missed gossip (and has no job to show it) catches up.
   */
  | { type: 'seqs'; seqs: Array<{ poolId: number; seq: number }> }

/** Client → head on {@link CLIENT_PROTOCOL}. */
export type ClientMessage =
  /** `code`: the bundled worker module, shipped to the nodes. */
  | { type: 'open'; worker: string; init: Uint8Array; settings: PoolSettingsWire; code?: Uint8Array }
  | { type: 'submit'; jobs: SubmittedJob[] }
  | { type: 'cancel'; ids: number[] }
  | { type: 'update'; reqId: number; value: Uint8Array }
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

/** Head → client on {@link CLIENT_PROTOCOL}. */
export type HeadToClientMessage =
  /** `maxOpenJobs`: the most jobs this client may have open here; it holds back the rest. */
  | { type: 'opened'; poolId: number; maxOpenJobs?: number }
  | { type: 'results'; results: ClientOutcome[] }
  | { type: 'updated'; reqId: number; seq: number }
  | { type: 'stats'; reqId: number; workers: number; nodes: number }
  | { type: 'refused'; message: string }
  /** Lines the pool's workers printed, and notes about the pool from the mesh. */
  | { type: 'output'; lines: string[] }
  | { type: 'progress'; progress: Array<{ id: number; fraction: number }> }
  /** A revoke is done; `known`: the peer had joined this head at some time. `refused`: it was not done, and why. */
  | { type: 'revoked'; reqId: number; peerId: string; known: boolean; refused?: string }
  | { type: 'nodes'; reqId: number; nodes: NodeInfo[]; queued: number; leased: number }
  /** `stopping`: those of the nodes asked for that were here and are leaving. `refused`: none was asked, and why. */
  | { type: 'stopping'; reqId: number; nodeIds: string[]; refused?: string }

/** Node → head on {@link CODE_PROTOCOL}. */
export type CodeRequest = { type: 'fetch'; hash: string }
/** Head → node on {@link CODE_PROTOCOL}: the module, or no `code` if the head has none by that hash. */
export type CodeReply = { type: 'code'; hash: string; code?: Uint8Array }

/**
 * Either side of {@link BLOB_PROTOCOL}. A node asks the head (or a peer) for a blob
 * by hash; `have` tells the head it now holds it, so others may fetch it there.
 * `direct` asks the head for the bytes itself after the peers it named failed.
 */
export type BlobRequest = { type: 'fetch'; hash: string; direct?: boolean } | { type: 'have'; hash: string }
/** The bytes (none if this peer has no blob by that hash), or peers that have them. */
export type BlobReply =
  | { type: 'blob'; hash: string; data?: Uint8Array }
  | { type: 'elsewhere'; hash: string; peers: PeerInfo[] }

const frames = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false })

/** Encodes a message to a frame body. Throws {@link FrameError} past `maxBytes`. */
export function encodeFrame(message: object, maxBytes = MAX_FRAME_BYTES): Uint8Array {
  // The type first, so that a receiver can check a frame from its first bytes (checkFrameStart).
  const typed =
    typeof message === 'object' && message !== null && 'type' in message && Object.keys(message)[0] !== 'type'
      ? Object.assign({ type: message.type }, message)
      : message
  const bytes = frames.encode(typed) as Uint8Array
  if (bytes.byteLength > maxBytes) {
    throw new FrameError(
      `a frame of ${bytes.byteLength} bytes is over the limit of ${maxBytes} bytes; send smaller values`,
    )
  }
  return bytes
}

/** How many first bytes of a frame {@link checkFrameStart} needs (fewer when the frame is shorter). */
export const FRAME_START_BYTES = 64

/**
 * Checks a frame from its first bytes and its announced length, before the
 * rest arrives: it must be a map whose first field is its `type` (as
 * {@link encodeFrame} writes every frame), of a type this side accepts, and
 * no longer than that type's limit. So a peer can't make this side buffer
 * 256 MiB of something no message is. Throws {@link FrameError}.
 */
export function checkFrameStart(start: Uint8Array, length: number, accepted: Record<string, Check>): void {
  const type = typeAtStart(start)
  if (type === undefined) throw new FrameError('a frame must be a map whose first field is its type')
  if (!Object.hasOwn(accepted, type)) throw new FrameError(`unknown message type ${JSON.stringify(type)}`)
  const limit = frameLimits.get(accepted)?.[type] ?? MAX_FRAME_BYTES
  if (length > limit) throw new FrameError(`a ${type} frame of ${length} bytes is over its limit of ${limit} bytes`)
}

/** The text of `{ type: "…", …}` at the start of a CBOR frame, if it starts so. */
function typeAtStart(bytes: Uint8Array): string | undefined {
  let at = 0
  const head = bytes[at++]
  if (head === undefined || head >> 5 !== 5 || head === 0xa0) return undefined
  const info = head & 0x1f
  if (info >= 24 && info <= 27) at += 1 << (info - 24)
  else if (info > 27 && info !== 31) return undefined
  const key = [0x64, 0x74, 0x79, 0x70, 0x65] // text(4) "type"
  for (const byte of key) if (bytes[at++] !== byte) return undefined
  const text = bytes[at++]
  if (text === undefined || text >> 5 !== 3) return undefined
  let length = text & 0x1f
  if (length === 24) length = bytes[at++] ?? 255
  else if (length > 24) return undefined
  if (at + length > bytes.length) return undefined
  return new TextDecoder().decode(bytes.subarray(at, at + length))
}

/**
 * Decodes and validates a frame against the messages one side may receive.
 * Anything else (garbage, a wrong type, a missing field) is a {@link FrameError}.
 */
export function decodeFrame<T extends { type: string }>(
  frame: Uint8Array,
  accepted: Record<string, Check>,
  maxBytes = MAX_FRAME_BYTES,
): T {
  if (frame.byteLength > maxBytes) {
    throw new FrameError(`a frame of ${frame.byteLength} bytes is over the limit of ${maxBytes} bytes`)
  }
  const { type: scanned } = scanCbor(frame, FRAME_BUDGET)
  const limit = scanned === undefined ? undefined : frameLimits.get(accepted)?.[scanned]
  if (limit !== undefined && frame.byteLength > limit) {
    throw new FrameError(`a ${scanned} frame of ${frame.byteLength} bytes is over its limit of ${limit} bytes`)
  }
  let message: unknown
  try {
    message = frames.decode(frame)
  } catch (err) {
    throw new FrameError(`a frame is not valid CBOR: ${(err as Error).message}`)
  }
  const type = (message as { type?: unknown } | null)?.type
  if (typeof message !== 'object' || message === null || typeof type !== 'string' || type.length > 64) {
    throw new FrameError('malformed frame: a frame is an object with a `type`')
  }
  const check = Object.hasOwn(accepted, type) ? accepted[type] : undefined
  if (check === undefined) throw new FrameError(`unknown message type ${JSON.stringify(type)}`)
  check(message, type)
  return message as T
}

import { FrameError } from './errors.js'
import { MAX_PRIORITY } from './options.js'
import type {
  BlobReply,
  BlobRequest,
  ClientMessage,
  CodeReply,
  CodeRequest,
  HeadToClientMessage,
  HeadToNodeMessage,
  NodeMessage,
} from './wire.js'
import { MAX_BATCH_ITEMS, MAX_SLOTS_PER_NODE } from './wire-limits.js'

/**
 * The shape of every message each side of each protocol may receive, checked
 * field by field before a handler sees it (see decodeFrame).
 */

export type Check = (v: unknown, at: string) => void

const fail = (at: string, want: string): never => {
  throw new FrameError(`malformed frame: ${at} should be ${want}`)
}
export const str: Check = (v, at) => {
  if (typeof v !== 'string' || v.length > 4096) fail(at, 'a string of at most 4096 characters')
}
const uint: Check = (v, at) => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(at, 'a non-negative integer')
}
const bytes: Check = (v, at) => {
  if (!(v instanceof Uint8Array)) fail(at, 'bytes')
}
const fraction: Check = (v, at) => {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) fail(at, 'a number from 0 to 1')
}
const hash: Check = (v, at) => {
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) fail(at, 'a sha-256 in hex')
}
const priority: Check = (v, at) => {
  if (typeof v !== 'number' || !(Math.abs(v) <= MAX_PRIORITY))
    fail(at, `a number from -${MAX_PRIORITY} to ${MAX_PRIORITY}`)
}
const bool: Check = (v, at) => {
  if (typeof v !== 'boolean') fail(at, 'a boolean')
}
const optional =
  (check: Check): Check =>
  (v, at) => {
    if (v !== undefined) check(v, at)
  }
/** An object with these fields and no others (an unknown field is refused: a frame says only what its type has). */
export const shape = (fields: Record<string, Check>): Check => {
  const known = new Set(Object.keys(fields))
  return (v, at) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) fail(at, 'an object')
    const o = v as Record<string, unknown>
    for (const key of Object.keys(o)) if (!known.has(key)) fail(`${at}.${key}`, 'absent (no such field)')
    for (const [key, check] of Object.entries(fields)) check(o[key], `${at}.${key}`)
  }
}
/** A message: its `type` (checked by decodeFrame) and these fields. */
const message = (fields: Record<string, Check>): Check => shape({ type: str, ...fields })
const list =
  (item: Check, max: number = MAX_BATCH_ITEMS): Check =>
  (v, at) => {
    if (!Array.isArray(v) || v.length > max) fail(at, `a list of at most ${max} items`)
    const items = v as unknown[]
    for (let i = 0; i < items.length; i++) item(items[i], `${at}[${i}]`)
  }
/** A node's slot count: at least what a machine can have, and no more (it bounds what the node may hold). */
const slotCount: Check = (v, at) => {
  uint(v, at)
  if ((v as number) > MAX_SLOTS_PER_NODE) fail(at, `at most ${MAX_SLOTS_PER_NODE} slots`)
}
const errorShapeCheck = shape({
  name: str,
  message: (v, at) => typeof v === 'string' || fail(at, 'a string'),
  stack: optional((v, at) => typeof v === 'string' || fail(at, 'a string')),
})
const outcome = (idField: 'jobId' | 'id', extra: Record<string, Check>): Check => {
  const ok = shape({ [idField]: uint, ...extra, ok: bool, value: bytes })
  const notOk = shape({
    [idField]: uint,
    ...extra,
    ok: bool,
    error: errorShapeCheck,
    lost: optional(bool),
    where: optional(str),
  })
  return (v, at) => {
    if (typeof v !== 'object' || v === null) fail(at, 'an object')
    ;((v as { ok?: unknown }).ok === true ? ok : notOk)(v, at)
  }
}
const leasedJob = shape({
  jobId: uint,
  leaseId: uint,
  poolId: uint,
  attempt: uint,
  updateSeq: uint,
  timeoutMs: uint,
  params: bytes,
})
const ids = list(uint)
const updateEntry = shape({ poolId: uint, seq: uint, value: bytes })

const addrList: Check = (v, at) => {
  list(str)(v, at)
  if ((v as unknown[]).length > 32) fail(at, 'at most 32 addresses')
}
const peerInfo = shape({ peerId: str, addrs: addrList })
const gpuSummary = shape({ index: uint, name: str, memoryMB: uint })
const slotStateNames = new Set(['idle', 'busy', 'loading', 'down', 'broken'])
const slotState: Check = (v, at) => {
  if (typeof v !== 'string' || !slotStateNames.has(v)) fail(at, 'a slot state (idle, busy, loading, down, broken)')
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

const nodeMessages: Record<NodeMessage['type'], Check> = {
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
const headToNodeMessages: Record<HeadToNodeMessage['type'], Check> = {
  welcome: message({ nodeId: str }),
  pool: message({
    pool: shape({
      poolId: uint,
      worker: str,
      init: bytes,
      leaseMs: uint,
      codeHash: optional(hash),
      maxJobsPerSlot: optional(uint),
    }),
  }),
  lease: message({ jobs: list(leasedJob) }),
  updates: message({
    entries: list(updateEntry),
    dropped: optional(shape({ poolId: uint, through: uint })),
    announced: optional(list(shape({ poolId: uint, seq: uint, hash: optional(hash) }))),
  }),
  peers: message({ peers: list(peerInfo) }),
  revoked: message({ peerIds: list(str) }),
  allowed: message({ peerIds: list(str) }),
  refused: message({ message: str }),
  stop: message({}),
  cancel: message({ jobIds: ids, closedPools: optional(ids) }),
  seqs: message({ seqs: list(shape({ poolId: uint, seq: uint })) }),
}
const clientMessages: Record<ClientMessage['type'], Check> = {
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
  }),
  submit: message({ jobs: list(shape({ id: uint, params: bytes, timeoutMs: optional(uint) })) }),
  cancel: message({ ids }),
  update: message({ reqId: uint, value: bytes }),
  stats: message({ reqId: uint }),
  watch: message({ on: bool }),
  revoke: message({ reqId: uint, peerId: str, adminKey: optional(str) }),
  nodes: message({ reqId: uint }),
  stopNodes: message({ reqId: uint, nodeIds: list(str), adminKey: optional(str) }),
}
const headToClientMessages: Record<HeadToClientMessage['type'], Check> = {
  opened: message({ poolId: uint, maxOpenJobs: optional(uint) }),
  results: message({ results: list(outcome('id', {})) }),
  updated: message({ reqId: uint, seq: uint }),
  stats: message({ reqId: uint, workers: uint, nodes: uint }),
  refused: message({ message: str }),
  output: message({ lines: list(str) }),
  progress: message({ progress: list(shape({ id: uint, fraction: fraction })) }),
  revoked: message({ reqId: uint, peerId: str, known: bool, refused: optional(str) }),
  nodes: message({ reqId: uint, nodes: list(nodeInfo), queued: uint, leased: uint }),
  stopping: message({ reqId: uint, nodeIds: list(str), refused: optional(str) }),
}
const codeRequests: Record<CodeRequest['type'], Check> = { fetch: message({ hash }) }
const codeReplies: Record<CodeReply['type'], Check> = { code: message({ hash, code: optional(bytes) }) }
const blobRequests: Record<BlobRequest['type'], Check> = {
  fetch: message({ hash, direct: optional(bool) }),
  have: message({ hash }),
}
const blobReplies: Record<BlobReply['type'], Check> = {
  blob: message({ hash, data: optional(bytes) }),
  elsewhere: message({ hash, peers: list(peerInfo) }),
}

const KiB = 1024
const MiB = 1024 * KiB
/** Control messages: a few numbers and names. */
const SMALL = 64 * KiB
/** Lists of ids, peers, lines or progress: bounded by MAX_BATCH_ITEMS items. */
const MEDIUM = 16 * MiB
/**
 * The largest frame of each message type each side takes, checked before it
 * is decoded (a status request is a few bytes, not 256 MiB). Types not listed
 * here carry values (params, results, updates, code, blobs): MAX_FRAME_BYTES.
 */
export const frameLimits = new WeakMap<object, Record<string, number>>([
  [
    nodeMessages,
    {
      hello: 256 * KiB,
      findPeers: SMALL,
      pull: SMALL,
      catchup: SMALL,
      heartbeat: SMALL,
      slots: SMALL,
      release: MEDIUM,
      loadFailed: MEDIUM,
      output: MEDIUM,
      progress: MEDIUM,
    },
  ],
  [
    headToNodeMessages,
    {
      welcome: SMALL,
      peers: MEDIUM,
      revoked: MEDIUM,
      allowed: MEDIUM,
      refused: SMALL,
      stop: SMALL,
      cancel: MEDIUM,
      seqs: MEDIUM,
    },
  ],
  [
    clientMessages,
    {
      cancel: MEDIUM,
      stats: SMALL,
      watch: SMALL,
      revoke: SMALL,
      nodes: SMALL,
      stopNodes: MEDIUM,
    },
  ],
  [
    headToClientMessages,
    {
      opened: SMALL,
      updated: SMALL,
      stats: SMALL,
      refused: SMALL,
      output: MEDIUM,
      progress: MEDIUM,
      revoked: SMALL,
      nodes: MEDIUM,
      stopping: MEDIUM,
    },
  ],
  [codeRequests, { fetch: SMALL }],
  [blobRequests, { fetch: SMALL, have: SMALL }],
  [blobReplies, { elsewhere: MEDIUM }],
])

/** The messages each side of each protocol may receive. */
export const inbound = {
  head: { work: nodeMessages, client: clientMessages, code: codeRequests },
  node: headToNodeMessages,
  client: headToClientMessages,
  codeReply: codeReplies,
  blobRequest: blobRequests,
  blobReply: blobReplies,
} as const

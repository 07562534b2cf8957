import { FrameError } from './errors.js'
import {
  type BlobReply,
  type BlobRequest,
  type ClientMessage,
  type CodeReply,
  type CodeRequest,
  type HeadToClientMessage,
  type HeadToNodeMessage,
  MAX_BATCH_ITEMS,
  type NodeMessage,
} from './wire.js'

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
const bool: Check = (v, at) => {
  if (typeof v !== 'boolean') fail(at, 'a boolean')
}
const optional =
  (check: Check): Check =>
  (v, at) => {
    if (v !== undefined) check(v, at)
  }
export const shape =
  (fields: Record<string, Check>): Check =>
  (v, at) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) fail(at, 'an object')
    const o = v as Record<string, unknown>
    for (const [key, check] of Object.entries(fields)) check(o[key], `${at}.${key}`)
  }
const list =
  (item: Check): Check =>
  (v, at) => {
    if (!Array.isArray(v) || v.length > MAX_BATCH_ITEMS) fail(at, `a list of at most ${MAX_BATCH_ITEMS} items`)
    const items = v as unknown[]
    for (let i = 0; i < items.length; i++) item(items[i], `${at}[${i}]`)
  }
const errorShapeCheck = shape({
  name: str,
  message: (v, at) => typeof v === 'string' || fail(at, 'a string'),
  stack: optional((v, at) => typeof v === 'string' || fail(at, 'a string')),
})
const outcome = (idField: 'jobId' | 'id', extra: Record<string, Check>): Check => {
  const ok = shape({ [idField]: uint, ...extra, value: bytes })
  const notOk = shape({ [idField]: uint, ...extra, error: errorShapeCheck, lost: optional(bool), where: optional(str) })
  return (v, at) => {
    shape({ ok: bool })(v, at)
    ;((v as { ok: boolean }).ok ? ok : notOk)(v, at)
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
  hello: shape({ name: str, slots: uint, addrs: optional(addrList), gpus: optional(list(gpuSummary)) }),
  findPeers: shape({}),
  pull: shape({ n: uint }),
  results: shape({ results: list(outcome('jobId', { leaseId: uint })) }),
  catchup: shape({ poolId: uint, from: uint }),
  heartbeat: shape({ slotStates: optional(list(slotState)) }),
  release: shape({ jobIds: ids }),
  slots: shape({ slots: uint }),
  loadFailed: shape({ poolId: uint, error: errorShapeCheck }),
  output: shape({ poolId: uint, lines: list(str) }),
  progress: shape({ progress: list(shape({ jobId: uint, leaseId: uint, fraction: fraction })) }),
}
const headToNodeMessages: Record<HeadToNodeMessage['type'], Check> = {
  welcome: shape({ nodeId: str }),
  pool: shape({
    pool: shape({
      poolId: uint,
      worker: str,
      init: bytes,
      leaseMs: uint,
      codeHash: optional(hash),
      maxJobsPerSlot: optional(uint),
    }),
  }),
  lease: shape({ jobs: list(leasedJob) }),
  updates: shape({
    entries: list(updateEntry),
    dropped: optional(shape({ poolId: uint, through: uint })),
    announced: optional(list(shape({ poolId: uint, seq: uint, hash: optional(hash) }))),
  }),
  peers: shape({ peers: list(peerInfo) }),
  revoked: shape({ peerIds: list(str) }),
  refused: shape({ message: str }),
  stop: shape({}),
  cancel: shape({ jobIds: ids, closedPools: optional(ids) }),
  seqs: shape({ seqs: list(shape({ poolId: uint, seq: uint })) }),
}
const clientMessages: Record<ClientMessage['type'], Check> = {
  open: shape({
    worker: str,
    init: bytes,
    settings: shape({
      maxAttempts: optional(uint),
      retries: optional(uint),
      leaseMs: optional(uint),
      maxJobsPerSlot: optional(uint),
    }),
    code: optional(bytes),
  }),
  submit: shape({ jobs: list(shape({ id: uint, params: bytes, timeoutMs: optional(uint) })) }),
  cancel: shape({ ids }),
  update: shape({ reqId: uint, value: bytes }),
  stats: shape({ reqId: uint }),
  watch: shape({ on: bool }),
  revoke: shape({ reqId: uint, peerId: str, adminKey: optional(str) }),
  nodes: shape({ reqId: uint }),
  stopNodes: shape({ reqId: uint, nodeIds: list(str), adminKey: optional(str) }),
}
const headToClientMessages: Record<HeadToClientMessage['type'], Check> = {
  opened: shape({ poolId: uint, maxOpenJobs: optional(uint) }),
  results: shape({ results: list(outcome('id', {})) }),
  updated: shape({ reqId: uint, seq: uint }),
  stats: shape({ reqId: uint, workers: uint, nodes: uint }),
  refused: shape({ message: str }),
  output: shape({ lines: list(str) }),
  progress: shape({ progress: list(shape({ id: uint, fraction: fraction })) }),
  revoked: shape({ reqId: uint, peerId: str, known: bool, refused: optional(str) }),
  nodes: shape({ reqId: uint, nodes: list(nodeInfo), queued: uint, leased: uint }),
  stopping: shape({ reqId: uint, nodeIds: list(str), refused: optional(str) }),
}
const codeRequests: Record<CodeRequest['type'], Check> = { fetch: shape({ hash }) }
const codeReplies: Record<CodeReply['type'], Check> = { code: shape({ hash, code: optional(bytes) }) }
const blobRequests: Record<BlobRequest['type'], Check> = {
  fetch: shape({ hash, direct: optional(bool) }),
  have: shape({ hash }),
}
const blobReplies: Record<BlobReply['type'], Check> = {
  blob: shape({ hash, data: optional(bytes) }),
  elsewhere: shape({ hash, peers: list(peerInfo) }),
}

/** The messages each side of each protocol may receive. */
export const inbound = {
  head: { work: nodeMessages, client: clientMessages, code: codeRequests },
  node: headToNodeMessages,
  client: headToClientMessages,
  codeReply: codeReplies,
  blobRequest: blobRequests,
  blobReply: blobReplies,
} as const

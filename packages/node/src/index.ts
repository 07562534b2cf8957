/**
 * @packageDocumentation
 *
 * meshpool's peers over libp2p: the head, the node agent with its slot
 * processes, the client, and `createPool()`.
 *
 * @example
 * ```ts
 * import { createPool } from '@meshpool/node'
 *
 * const pool = await createPool({ worker: new URL('./squares.js', import.meta.url) })
 * try {
 *   console.log(await pool.map([1, 2, 3]))
 * } finally {
 *   await pool.close()
 * }
 * ```
 *
 * (`await using pool = …` closes it too, in TypeScript that compiles it down:
 * Node 22 itself does not parse `await using`.)
 */

export type { GpuSummary, NodeInfo, SlotStateName } from '@meshpool/core'
export {
  AbortError,
  AdminRefusedError,
  FrameError,
  HandshakeRefusedError,
  HeadUnreachableError,
  InvalidOptionError,
  NodeRefusedError,
  NotAHeadError,
  PoolClosedError,
  RemoteJobError,
  TimeoutError,
  UnsendableValueError,
  WorkerLoadError,
  WorkerLostError,
} from '@meshpool/core'
export {
  type AdminAccess,
  type HeadAccess,
  type MeshStatus,
  meshStatus,
  type RevokeOptions,
  revokeNode,
  stopNodes,
} from './admin.js'
export type { CallOptions, MapOptions, Settled, SettleOptions } from './call-options.js'
export { COMMAND_WORKER } from './cmd-worker.js'
export { createPool, defaultSlots } from './create-pool.js'
export { type GpuSelection, parseGpuSelection, planSlots, type SlotPlan } from './gpus.js'
export { DEFAULT_HEAD_KEY_FILE, DEFAULT_HEAD_PORT, type HeadInit, type RunningHead, startHead } from './head-runner.js'
export type { HeadStats, NodeEvent } from './head-types.js'
export { newIdentity } from './identity.js'
export type { Inputs } from './inputs.js'
export type { LaunchedWorker, LaunchOptions } from './launch.js'
export { acquireNodeLock, defaultStateDir, type NodeLockHolder, releaseNodeLockSync } from './node-lock.js'
export {
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_NODE_LISTEN,
  joinHead,
  type NodeInit,
  type RunningNode,
} from './node-runner.js'
/** The libp2p peer with meshpool's stack, for tools that speak its protocols. */
export { createPeer, type MeshPeer, type PeerInit } from './peer.js'
export { Pool, type WorkerInfo } from './pool.js'
export type { InitOption, PoolOptions, PoolSettings } from './pool-options.js'
export type { Progress } from './progress.js'
export { checkPrivateFile, derivePoolKey, MIN_PASSWORD_LENGTH, type PoolAccess, writePoolKeyFile } from './psk.js'
export type {
  GpuInfo,
  InitOf,
  JobContext,
  ParamsOf,
  ResultOf,
  UpdateOf,
  WorkerClass,
  WorkerContext,
} from './worker-types.js'

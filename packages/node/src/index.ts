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
  SharedRef,
  SharedValueError,
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
} from './client/admin.js'
export type { CallOptions, MapOptions, Settled, SettleOptions } from './client/call-options.js'
export { createPool } from './client/create-pool.js'
export type { Inputs } from './client/inputs.js'
export type { LaunchedWorker, LaunchOptions } from './client/launch.js'
export { Pool, type WorkerInfo } from './client/pool.js'
export type { InitOption, PoolOptions, PoolSettings } from './client/pool-options.js'
export type { Progress } from './client/progress.js'
export type { HeadStats, NodeEvent } from './head/head-types.js'
export {
  DEFAULT_HEAD_KEY_FILE,
  DEFAULT_HEAD_PORT,
  type HeadInit,
  type RunningHead,
  startHead,
} from './head/start-head.js'
export { newIdentity } from './net/identity.js'
export { DEFAULT_NODE_LISTEN } from './net/listen-address.js'
/** The libp2p peer with meshpool's stack, for tools that speak its protocols. */
export { createPeer, type MeshPeer, type PeerInit } from './net/peer.js'
export { checkPrivateFile, derivePoolKey, MIN_PASSWORD_LENGTH, type PoolAccess, writePoolKeyFile } from './net/psk.js'
export { defaultSlots, type GpuSelection, parseGpuSelection, planSlots, type SlotPlan } from './node/gpus.js'
export { DEFAULT_DRAIN_TIMEOUT_MS, joinHead, type NodeInit, type RunningNode } from './node/join-head.js'
export { acquireNodeLock, defaultStateDir, type NodeLockHolder, releaseNodeLockSync } from './node/node-lock.js'
export { COMMAND_WORKER } from './slot/command-worker.js'
export type {
  GpuInfo,
  InitOf,
  JobContext,
  ParamsOf,
  ResultOf,
  UpdateOf,
  WithShared,
  WorkerClass,
  WorkerContext,
} from './worker-types.js'

import type { ErrorShape } from '@meshpool/core'

/** The node agent → a slot process, over the child's IPC channel. */
export type ToSlot =
  | { type: 'load'; worker: string; init: Uint8Array; nodeId: string; slot: number }
  | { type: 'run'; jobId: number; attempt: number; params: Uint8Array }
  | { type: 'update'; seq: number; value: Uint8Array }
  /** Aborts ctx.signal of a running job; handled at once, not in turn. */
  | { type: 'abort'; jobId: number; reason: 'timeout' | 'cancel' }
  | { type: 'dispose' }

/** A slot process → its node agent. */
export type FromSlot =
  | { type: 'loaded' }
  | { type: 'loadFailed'; error: ErrorShape }
  | { type: 'result'; jobId: number; ok: true; value: Uint8Array }
  | { type: 'result'; jobId: number; ok: false; error: ErrorShape }
  | { type: 'disposed' }

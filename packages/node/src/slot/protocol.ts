import type { ErrorShape } from '@meshpool/core'
import type { GpuInfo } from '../worker-types.js'

/**
 * The slot writes each job id (8 bytes, a float64) to this file descriptor, a
 * pipe to its agent, right before the job starts.
 */
export const STARTED_FD = 4
/**
 * Bytes of BULK_MIN_BYTES or more (a job's params, a shared value, a result) go
 * raw on this pipe (a socket: both ways), not through the IPC channel's
 * serializer: the message says how many (`bulk`), and the other end reads them
 * off this pipe in the order the messages came.
 */
export const BULK_FD = 5
export const BULK_MIN_BYTES = 1024 * 1024

/** A job as the agent hands it to a slot. */
export interface SlotJob {
  jobId: number
  attempt: number
  /** Empty when `bulk` is set: then the params are the next `bulk` bytes on BULK_FD. */
  params: Uint8Array
  bulk?: number
}

/** What a slot reports for one job, with how long run() took; `bulk`: the value is that many bytes on BULK_FD. */
export type SlotResult =
  | { jobId: number; ms: number; ok: true; value: Uint8Array; bulk?: number }
  | { jobId: number; ms: number; ok: false; error: ErrorShape }

/** The node agent → a slot process, over the child's IPC channel. */
export type ToSlot =
  /** `worker` names the module in messages; `url` is what to import (a shipped bundle: `shipped`). */
  | {
      type: 'load'
      worker: string
      url: string
      shipped: boolean
      init: Uint8Array
      nodeId: string
      slot: number
      gpu: GpuInfo | null
    }
  /** Jobs to run one after another, in order. */
  | { type: 'run'; jobs: SlotJob[] }
  | { type: 'update'; seq: number; value: Uint8Array }
  /** Updates of the pool this slot will never get (gone past the log budget), in turn with the others. */
  | { type: 'missed'; count: number }
  /** Aborts ctx.signal of a running job, or skips a job not started; handled at once, not in turn. */
  | { type: 'abort'; jobId: number; reason: 'timeout' | 'cancel' }
  | { type: 'dispose' }
  /** A shared value the slot asked for: its bytes, or why it can't be had; handled at once. */
  | { type: 'shared'; hash: string; value?: Uint8Array; bulk?: number; error?: string }
  /** Shared values gone from the node: the slot drops its decoded copies; handled at once. */
  | { type: 'forget'; hashes: string[] }

/** A slot process → its node agent. */
export type FromSlot =
  | { type: 'loaded' }
  | { type: 'loadFailed'; error: ErrorShape }
  /** Results of finished jobs, sent in batches as the slot's queue empties. */
  | { type: 'results'; results: SlotResult[] }
  | { type: 'disposed' }
  /** Lines the worker wrote to process.stdout / process.stderr, in order with the results. */
  | { type: 'output'; lines: string[] }
  /** A running job's ctx.progress (at most one every PROGRESS_EVERY_MS per job, and its last). */
  | { type: 'progress'; jobId: number; fraction: number }
  /** A job's params refer to a shared value the slot has not got. */
  | { type: 'needShared'; hash: string }

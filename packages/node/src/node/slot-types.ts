import type { Logger } from '@libp2p/interface'
import type { JobOutcome, JobProgress } from '@meshpool/core'
import type { GpuInfo } from '../worker-types.js'
import type { PoolState } from './node-pools.js'
import type { SlotChild, SlotProcessEvents } from './slot-process.js'
import type { SlotWaits } from './slot-waits.js'

/** What a {@link Slot} needs of the node, and what it tells it. */

/** The error name of a job lost with its slot's process (the head counts it an attempt). */
export const SLOT_DIED = 'SlotDied'

/**
 * What a slot does with its worker. 'ready': loaded (or empty) and taking
 * jobs. The head sees these as `Slot.state`, worded as on the wire.
 */
export type SlotPhase = 'down' | 'ready' | 'loading' | 'disposing' | 'recycling' | 'broken'

/** What a slot reads and tells of the node's pools (a NodePools). */
export interface SlotPools {
  get(poolId: number): PoolState | undefined
  codeFor(pool: PoolState, wanted: () => boolean, to: CodeWaiter): void
  ran(pool: PoolState, ms: number): void
}

/** A slot waiting for a pool's code (see NodePools.codeFor). */
export interface CodeWaiter {
  /** Where to import the worker from. */
  ready(url: string): void
  /** The code can't be had: the pool can't start here. */
  failed(message: string): void
  /** This fetch failed; another is on its way. */
  retry(): void
}

/** What a slot tells the node. */
export interface SlotEvents {
  /** A job's outcome for the head: its result (with its pool), its timeout, or its loss with the slot's process. */
  outcome(outcome: JobOutcome, poolId?: number): void
  /** Jobs that go back to the head without blame: never started, or finished with their results lost. */
  release(jobIds: number[]): void
  progress(report: JobProgress): void
  /** A line the worker printed, and the pool the slot held then. */
  output(line: string, poolId: number | undefined): void
  /** A note for the node's own log. */
  notice(text: string): void
  /** The pool's worker could not load here. */
  cannotStart(poolId: number, message: string): void
  /** The slot's worker was disposed of: closed pools that no slot holds can go. */
  disposed(): void
  /** It takes jobs again, or holds fewer, or holds other ones: the node's queue moves on. */
  changed(): void
  /** It crashed too often in a row and stays down. */
  broken(): void
}

export interface SlotInit {
  index: number
  /** The slot's GPU; null for a CPU slot. */
  gpu: GpuInfo | null
  /** Makes the slot's process (not started): a SlotProcess, or a fake in tests. */
  process: (events: SlotProcessEvents) => SlotChild
  pools: SlotPools
  /** The bytes of a shared value a job of the pool refers to (see NodeShares). */
  shared: (poolId: number, hash: string) => Promise<Uint8Array>
  /** The node's id on its head, for the worker's ctx. */
  nodeId: () => string
  /** Waits on the node's slots: checked again after each event of this slot's process. */
  waits: SlotWaits
  events: SlotEvents
  log: Logger
}

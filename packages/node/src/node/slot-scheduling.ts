import type { LeasedJob, PoolSpec, SlotStateName } from '@meshpool/core'
import type { GpuInfo } from '../worker-types.js'
import { PoolUpdates } from './pool-updates.js'
import type { SlotProcess } from './slot-process.js'

/**
 * How much work (in ms of run time) each slot gets handed ahead: short jobs
 * stream to the slot in batches, long jobs go one at a time so no slot hoards
 * them. The node holds as much again locally, so refills never wait on the head.
 */
const AHEAD_MS = 20
/** Jobs handed to one slot at once, at most. */
const MAX_SLOT_DEPTH = 128
/** Until a pool's jobs have been timed, assume this. */
export const FIRST_GUESS_MS = 10
export interface PoolState {
  spec: PoolSpec
  /** Where slots import the worker from (shipped code: once fetched). */
  module: Promise<string>
  updates: PoolUpdates
  loadError: Error | undefined
  /** The head connection told of loadError: a node that reconnects tells the new one too. */
  loadErrorToldOn: unknown
  /** Fetches of the shipped code that failed in a row (a dropped connection); a few are retried. */
  fetchFailures: number
  /** Moving average of run() time, to size batches. */
  avgMs: number
  /** Its client is gone: slots dispose of its worker as soon as they are idle, and it is forgotten then. */
  closed: boolean
}

export interface RunningJob {
  job: LeasedJob
  /** Its outcome is already reported (timeout) or unwanted (cancelled, stale): drop the slot's answer. */
  abandoned: boolean
  timer: NodeJS.Timeout | undefined
}

export interface SlotState {
  process: SlotProcess
  /** The slot's GPU; null for a CPU slot. */
  gpu: GpuInfo | null
  poolId: number | undefined
  /** Updates of the loaded pool already sent to the slot. */
  sentSeq: number
  /** 'ready': loaded (or empty) and taking jobs. */
  phase: 'down' | 'ready' | 'loading' | 'disposing' | 'recycling' | 'broken'
  /** Jobs handed to the slot, in order: the first is running, the rest wait their turn there. */
  assigned: RunningJob[]
  /** The job waiting for the slot's worker to load. */
  pendingJob: LeasedJob | undefined
  /** Assigned jobs with a timeout: such a job runs alone, so its clock starts when it does. */
  timed: number
  crashes: number
  /** Jobs handed to the slot's current process (for maxJobsPerSlot). */
  jobsRun: number
}

/** What a node keeps of a pool it was given: nothing loaded, nothing timed yet. */
export function newPoolState(spec: PoolSpec, module: Promise<string>): PoolState {
  return {
    spec,
    module,
    updates: new PoolUpdates(),
    loadError: undefined,
    loadErrorToldOn: undefined,
    fetchFailures: 0,
    avgMs: FIRST_GUESS_MS,
    closed: false,
  }
}

/** A slot before its process first starts. */
export function newSlotState(process: SlotProcess, gpu: GpuInfo | null): SlotState {
  return {
    process,
    gpu,
    poolId: undefined,
    sentSeq: 0,
    phase: 'down',
    assigned: [],
    pendingJob: undefined,
    timed: 0,
    crashes: 0,
    jobsRun: 0,
  }
}

/** Jobs the slot's process may still be handed before its pool's maxJobsPerSlot replaces it. */
export function quotaLeft(slot: SlotState, pool: PoolState | undefined): number {
  const max = pool?.spec.maxJobsPerSlot
  return max === undefined ? Number.POSITIVE_INFINITY : max - slot.jobsRun
}

/** Jobs to hand a slot of this pool at once: about {@link AHEAD_MS} of work, one if the jobs are long. */
export function depthFor(pool: PoolState): number {
  return Math.max(1, Math.min(MAX_SLOT_DEPTH, Math.ceil(AHEAD_MS / Math.max(pool.avgMs, 0.01))))
}

/** Whether any slot could take a job now (cheap: the agent scans its queue only while this holds). */
export function hasRoom(
  slots: SlotState[],
  pools: Map<number, PoolState>,
  batches: Map<SlotState, LeasedJob[]>,
): boolean {
  for (const slot of slots) {
    if (slot.phase !== 'ready') continue
    const load = slot.assigned.length + (batches.get(slot)?.length ?? 0)
    if (load === 0) return true
    const pool = slot.poolId === undefined ? undefined : pools.get(slot.poolId)
    const batched = batches.get(slot)?.length ?? 0
    if (slot.timed === 0 && pool !== undefined && load < depthFor(pool) && batched < quotaLeft(slot, pool)) return true
  }
  return false
}

/**
 * The slot a job should go to now, or none: the least loaded slot that holds
 * the job's pool and has room, else an empty one: with no worker yet, else
 * holding another pool's worker that can go (a slot keeps its worker while
 * jobs of its pool wait here, unless another slot holds that pool too).
 */
export function slotFor(
  slots: SlotState[],
  job: LeasedJob,
  pool: PoolState,
  batches: Map<SlotState, LeasedJob[]>,
  waitingHere: (poolId: number) => boolean = () => false,
): SlotState | undefined {
  const depth = job.timeoutMs > 0 ? 1 : depthFor(pool)
  let best: SlotState | undefined
  let bestLoad = Number.POSITIVE_INFINITY
  for (const slot of slots) {
    if (slot.phase !== 'ready' || slot.poolId !== job.poolId) continue
    const batch = batches.get(slot)
    const load = slot.assigned.length + (batch?.length ?? 0)
    // A job with a timeout runs alone, so its clock starts when it does.
    const timed = slot.timed > 0 || batch?.some((j) => j.timeoutMs > 0) === true
    if (load >= depth || (load > 0 && (job.timeoutMs > 0 || timed))) continue
    if ((batch?.length ?? 0) >= quotaLeft(slot, pool)) continue
    if (load < bestLoad) {
      best = slot
      bestLoad = load
    }
  }
  if (best !== undefined) return best
  const empty = slots.filter((s) => s.phase === 'ready' && s.assigned.length === 0 && !batches.has(s))
  const fresh = empty.find((s) => s.poolId === undefined)
  if (fresh !== undefined) return fresh
  const holders = new Map<number, number>()
  for (const s of slots) if (s.poolId !== undefined) holders.set(s.poolId, (holders.get(s.poolId) ?? 0) + 1)
  return empty.find((s) => s.poolId !== undefined && (!waitingHere(s.poolId) || (holders.get(s.poolId) as number) > 1))
}

/** What `meshpool status` shows for a slot. */
export function slotStateName(slot: SlotState): SlotStateName {
  if (slot.phase === 'broken') return 'broken'
  if (slot.assigned.length > 0) return 'busy'
  if (slot.phase === 'ready') return 'idle'
  return slot.phase === 'down' ? 'down' : 'loading'
}

import type { LeasedJob } from '@meshpool/core'
import type { PoolState } from './node-pools.js'

/**
 * How much work a node's slots can take: the dispatcher's arithmetic, pure so
 * that it reads (and tests) apart from the queue it serves.
 */

/**
 * How much work (in ms of run time) each slot gets handed ahead: short jobs
 * stream to the slot in batches, long jobs go one at a time so no slot hoards
 * them. The node holds as much again locally, so refills never wait on the head.
 */
const AHEAD_MS = 20
/** Jobs handed to one slot at once, at most. */
const MAX_SLOT_DEPTH = 128

/** What the dispatcher reads of a slot (a {@link Slot}). */
export interface SlotLoad {
  /** Loaded (or empty) and taking jobs. */
  readonly ready: boolean
  readonly poolId: number | undefined
  readonly jobs: {
    /** Jobs handed to the slot and not finished. */
    readonly count: number
    /** Of those, jobs with a timeout: such a job runs alone, so its clock starts when it does. */
    readonly timed: number
    /** Jobs handed to the slot's current process (for maxJobsPerSlot). */
    readonly handed: number
  }
}

type PoolPace = Pick<PoolState, 'avgMs'> & { spec: Pick<PoolState['spec'], 'maxJobsPerSlot'> }

/** Jobs the slot's process may still be handed before its pool's maxJobsPerSlot replaces it. */
export function quotaLeft(jobs: SlotLoad['jobs'], pool: PoolPace | undefined): number {
  const max = pool?.spec.maxJobsPerSlot
  return max === undefined ? Number.POSITIVE_INFINITY : max - jobs.handed
}

/** Jobs to hand a slot of this pool at once: about {@link AHEAD_MS} of work, one if the jobs are long. */
export function depthFor(pool: Pick<PoolState, 'avgMs'>): number {
  return Math.max(1, Math.min(MAX_SLOT_DEPTH, Math.ceil(AHEAD_MS / Math.max(pool.avgMs, 0.01))))
}

/** Whether any slot could take a job now (cheap: the dispatcher scans its queue only while this holds). */
export function hasRoom<S extends SlotLoad>(
  slots: readonly S[],
  pools: { get(poolId: number): PoolPace | undefined },
  batches: Map<S, LeasedJob[]>,
): boolean {
  for (const slot of slots) {
    if (!slot.ready) continue
    const load = slot.jobs.count + (batches.get(slot)?.length ?? 0)
    if (load === 0) return true
    const pool = slot.poolId === undefined ? undefined : pools.get(slot.poolId)
    const batched = batches.get(slot)?.length ?? 0
    if (slot.jobs.timed === 0 && pool !== undefined && load < depthFor(pool) && batched < quotaLeft(slot.jobs, pool))
      return true
  }
  return false
}

/**
 * The slot a job should go to now, or none: the least loaded slot that holds
 * the job's pool and has room, else an empty one: with no worker yet, else
 * holding another pool's worker that can go (a slot keeps its worker while
 * jobs of its pool wait here, unless another slot holds that pool too).
 */
export function slotFor<S extends SlotLoad>(
  slots: readonly S[],
  job: LeasedJob,
  pool: PoolPace,
  batches: Map<S, LeasedJob[]>,
  waitingHere: (poolId: number) => boolean = () => false,
): S | undefined {
  const depth = job.timeoutMs > 0 ? 1 : depthFor(pool)
  let best: S | undefined
  let bestLoad = Number.POSITIVE_INFINITY
  for (const slot of slots) {
    if (!slot.ready || slot.poolId !== job.poolId) continue
    const batch = batches.get(slot)
    const load = slot.jobs.count + (batch?.length ?? 0)
    // A job with a timeout runs alone, so its clock starts when it does.
    const timed = slot.jobs.timed > 0 || batch?.some((j) => j.timeoutMs > 0) === true
    if (load >= depth || (load > 0 && (job.timeoutMs > 0 || timed))) continue
    if ((batch?.length ?? 0) >= quotaLeft(slot.jobs, pool)) continue
    if (load < bestLoad) {
      best = slot
      bestLoad = load
    }
  }
  if (best !== undefined) return best
  const empty = slots.filter((s) => s.ready && s.jobs.count === 0 && !batches.has(s))
  const fresh = empty.find((s) => s.poolId === undefined)
  if (fresh !== undefined) return fresh
  const holders = new Map<number, number>()
  for (const s of slots) if (s.poolId !== undefined) holders.set(s.poolId, (holders.get(s.poolId) ?? 0) + 1)
  return empty.find((s) => s.poolId !== undefined && (!waitingHere(s.poolId) || (holders.get(s.poolId) as number) > 1))
}

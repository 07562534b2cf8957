import type { LeasedJob } from '@meshpool/core'
import type { SlotPhase } from './slot-types.js'

/** What a slot process's death means: for the jobs it held, for the slot's restart, and for the node's log. */

/** Restart delays after the 1st, 2nd, … crash in a row (the last one repeats). */
const RESTART_BACKOFF_MS = [0, 100, 500, 2000, 5000]
/** Crashes in a row, with no job finished between them, before a slot is reported broken. */
export const MAX_SLOT_CRASHES = 5

/** A job handed to a slot. */
export interface RunningJob {
  job: LeasedJob
  /** Its outcome is already reported (timeout) or unwanted (cancelled, stale): drop the slot's answer. */
  abandoned: boolean
  timer: NodeJS.Timeout | undefined
}

/** What a slot held as its process died. */
export interface SlotHeld {
  /** The job the process started last (see STARTED_FD), if any. */
  lastStarted: number | undefined
  /** Jobs handed to the slot, in order: the first is running, the rest wait their turn there. */
  assigned: readonly RunningJob[]
  /** The job waiting for the slot's worker to load. */
  pendingJob: LeasedJob | undefined
  /** What the slot was doing with its worker. */
  phase: SlotPhase
}

/** What a slot's death means for the jobs it held (see {@link afterSlotDeath}). */
export interface SlotDeath {
  /** Jobs that count an attempt: the one it had started (unless abandoned), and the one waiting for its worker. */
  lost: LeasedJob[]
  /** Jobs that go back without blame. */
  release: number[]
  /** Killed for ignoring an abort, or replaced by maxJobsPerSlot: not a crash of its own making. */
  blameless: boolean
  /** The job it had started, if any. */
  started: RunningJob | undefined
}

/**
 * What a slot's death means for the jobs it held. The job it had started counts
 * an attempt (`lost`), as does the one waiting for its worker to load; the others
 * either never started or finished with their results lost in the crash, so they
 * go back without blame (`release`). `blameless`: the slot was killed for
 * ignoring an abort, or replaced by maxJobsPerSlot, not a crash of its own making.
 */
export function afterSlotDeath(slot: SlotHeld): SlotDeath {
  const startedId = slot.lastStarted
  const started = slot.assigned.find((r) => r.job.jobId === startedId)
  const lost = [started?.abandoned === false ? started.job : undefined, slot.pendingJob].filter(
    (job): job is LeasedJob => job !== undefined,
  )
  const release = slot.assigned.filter((r) => r !== started && !r.abandoned).map((r) => r.job.jobId)
  return { lost, release, blameless: slot.phase === 'recycling' || started?.abandoned === true, started }
}

/** What the slot was doing when it died, for the node's log: the job (its id and attempt), if any. */
export function whatItHeld(slot: SlotHeld, death: SlotDeath): string {
  const job = (j: LeasedJob): string => `job ${j.jobId} (attempt ${j.attempt})`
  if (death.started !== undefined) {
    return death.started.abandoned
      ? ` after ${job(death.started.job)} ignored its abort`
      : ` while running ${job(death.started.job)}`
  }
  if (slot.pendingJob !== undefined) return ` while loading its worker for ${job(slot.pendingJob)}`
  if (slot.phase === 'recycling') return ' while disposing of its worker (maxJobsPerSlot)'
  return slot.phase === 'loading' ? ' while loading its worker' : ' with no job running'
}

/** After a crash (`slot.crashes` counts it): whether the slot stays down, or when it restarts. */
export function restartAfter(crashes: number): { broken: boolean; delayMs: number } {
  return {
    broken: crashes >= MAX_SLOT_CRASHES,
    delayMs: RESTART_BACKOFF_MS[Math.min(crashes, RESTART_BACKOFF_MS.length - 1)] as number,
  }
}

/** The node's log line for a slot's death: how it ended, what it was doing, and what happens next. */
export function deathNotice(description: string, held: string, crashes: number): string {
  const { broken, delayMs } = restartAfter(crashes)
  const next = broken
    ? `it crashed ${crashes} times in a row: it stays down`
    : `restarting it${delayMs === 0 ? '' : ` in ${delayMs} ms`}`
  return `${description}${held}; ${next}`
}

/** The node's log line for a slot killed because its job went on past an abort. */
export function killNotice(slot: number, job: LeasedJob, reason: 'timeout' | 'cancel', graceMs: number): string {
  const after = reason === 'timeout' ? `its timeout (timeoutMs ${job.timeoutMs})` : 'its cancel'
  return `slot ${slot}: job ${job.jobId} (attempt ${job.attempt}) ran on ${graceMs} ms after ${after} aborted ctx.signal: killing the slot (SIGKILL)`
}

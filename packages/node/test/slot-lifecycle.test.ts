import type { LeasedJob } from '@meshpool/core'
import { describe, expect, it } from 'vitest'
import {
  afterSlotDeath,
  deathNotice,
  killNotice,
  restartAfter,
  type SlotHeld,
  whatItHeld,
} from '../src/node/slot-deaths.js'
import { SlotWaits } from '../src/node/slot-waits.js'

const job = (jobId: number, attempt = 1): LeasedJob => ({
  jobId,
  leaseId: jobId,
  poolId: 1,
  attempt,
  updateSeq: 0,
  timeoutMs: 0,
  params: new Uint8Array(),
})

/** What a ready slot held as its process died (the closed-pool cases are in slot.test.ts). */
function slot(lastStarted?: number): { state: SlotHeld } {
  return { state: { lastStarted, assigned: [], pendingJob: undefined, phase: 'ready' } }
}

describe("a slot's death, as the node tells it", () => {
  it('names the job it was running and its attempt; the jobs waiting behind it go back unharmed', () => {
    const { state } = slot(7)
    state.assigned = [7, 8].map((id) => ({ job: job(id, 2), abandoned: false, timer: undefined }))
    const death = afterSlotDeath(state)
    expect(death.lost.map((j) => j.jobId)).toEqual([7])
    expect(death.release).toEqual([8])
    expect(deathNotice('slot 0 exited with code 9', whatItHeld(state, death), 1)).toBe(
      'slot 0 exited with code 9 while running job 7 (attempt 2); restarting it in 100 ms',
    )
  })

  it('says when the job ignored its abort (no blame), when it was loading, and when the slot stays down', () => {
    const { state } = slot(3)
    state.assigned = [{ job: job(3), abandoned: true, timer: undefined }]
    const killed = afterSlotDeath(state)
    expect(killed.blameless).toBe(true)
    expect(whatItHeld(state, killed)).toBe(' after job 3 (attempt 1) ignored its abort')
    const loading = slot().state
    loading.phase = 'loading'
    loading.pendingJob = job(4)
    expect(whatItHeld(loading, afterSlotDeath(loading))).toBe(' while loading its worker for job 4 (attempt 1)')
    expect(restartAfter(5)).toMatchObject({ broken: true })
    expect(deathNotice('slot 0 exited with code 1', ' with no job running', 5)).toBe(
      'slot 0 exited with code 1 with no job running; it crashed 5 times in a row: it stays down',
    )
    expect(killNotice(0, { ...job(3), timeoutMs: 300 }, 'timeout', 1000)).toBe(
      'slot 0: job 3 (attempt 1) ran on 1000 ms after its timeout (timeoutMs 300) aborted ctx.signal: killing the slot (SIGKILL)',
    )
  })
})

describe('waits on slots', () => {
  it('resolve true once the condition holds after a change, false when the time is up', async () => {
    const waits = new SlotWaits()
    let done = false
    const held = waits.until(() => done, 10_000)
    done = true
    waits.changed()
    expect(await held).toBe(true)
    expect(await waits.until(() => false, 10)).toBe(false)
  })
})

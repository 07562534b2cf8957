import type { LeasedJob } from '@meshpool/core'
import { describe, expect, it } from 'vitest'
import { afterSlotDeath, deathNotice, killNotice, restartAfter, whatItHeld } from '../src/node/slot-deaths.js'
import { disposeIfClosed, forgetClosedPools } from '../src/node/slot-disposal.js'
import type { SlotProcess } from '../src/node/slot-process.js'
import { newPoolState, newSlotState, type SlotState } from '../src/node/slot-scheduling.js'
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

/** A slot over a fake process that records what it is sent. */
function slot(lastStarted?: number): { state: SlotState; sent: unknown[] } {
  const sent: unknown[] = []
  const process = { index: 0, lastStarted, running: true, send: (m: unknown) => sent.push(m) } as unknown as SlotProcess
  const state = newSlotState(process, null)
  state.phase = 'ready'
  return { state, sent }
}

const pools = (closed: boolean) => {
  const pool = newPoolState({ poolId: 1, worker: '/w.js', init: new Uint8Array(), leaseMs: 3000 }, Promise.resolve(''))
  pool.closed = closed
  return new Map([[1, pool]])
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

describe('a closed pool on a node', () => {
  it("an idle slot disposes of its worker at once; a busy one waits for its jobs; an open pool's slot keeps it", () => {
    const idle = slot()
    idle.state.poolId = 1
    expect(disposeIfClosed(idle.state, pools(true))).toBe(true)
    expect(idle.state.phase).toBe('disposing')
    expect(idle.sent).toEqual([{ type: 'dispose' }])
    const busy = slot()
    busy.state.poolId = 1
    busy.state.assigned = [{ job: job(1), abandoned: true, timer: undefined }]
    expect(disposeIfClosed(busy.state, pools(true))).toBe(false)
    const open = slot()
    open.state.poolId = 1
    expect(disposeIfClosed(open.state, pools(false))).toBe(false)
  })

  it('is forgotten once no slot holds it', () => {
    const held = pools(true)
    const { state } = slot()
    state.poolId = 1
    forgetClosedPools(held, [state])
    expect(held.has(1)).toBe(true)
    state.poolId = undefined
    forgetClosedPools(held, [state])
    expect(held.has(1)).toBe(false)
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

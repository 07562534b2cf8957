import { encodeValue } from '@meshpool/core'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { NodePools } from '../src/node/node-pools.js'
import type { Slot } from '../src/node/slot.js'
import { SLOT_DIED } from '../src/node/slot-types.js'
import { type FakeProcess, fakePools, fakeSlots, job, newTold, settle, spec, type Told } from './fake-slot.js'

// Slots over fake processes, on fake timers: no child process, no sleeps.
beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
  vi.restoreAllMocks()
})

/** One started slot holding no worker, and what it tells the node. */
function oneSlot(more: Parameters<typeof spec>[1] = {}): {
  slot: Slot
  process: () => FakeProcess
  pools: NodePools
  told: Told
} {
  const told = newTold()
  const pools = fakePools(told)
  pools.add(spec(1, more))
  const { slots, processes } = fakeSlots(1, pools, told)
  const slot = slots[0] as Slot
  slot.start()
  return { slot, process: () => processes[0] as FakeProcess, pools, told }
}

/** Loads pool 1's worker into the slot for `first`, which then runs. */
async function loaded(slot: Slot, pools: NodePools, process: FakeProcess, first = job(1)): Promise<void> {
  slot.prepare(first, pools.get(1) as NonNullable<ReturnType<NodePools['get']>>)
  await settle()
  process.tell({ type: 'loaded' })
}

const value = encodeValue(2)

describe("a node's slot", () => {
  it('loads the pool for a job, runs it, and tells its result', async () => {
    const { slot, process, pools, told } = oneSlot()
    expect(process().starts).toBe(1)
    expect(slot.state).toBe('idle')
    slot.prepare(job(1), pools.get(1) as NonNullable<ReturnType<NodePools['get']>>)
    expect(slot.state).toBe('loading')
    await settle()
    expect(process().of('load')).toEqual([
      {
        type: 'load',
        worker: '/w.js',
        url: '/w.js',
        shipped: false,
        init: new Uint8Array(),
        nodeId: 'node-1',
        slot: 0,
        gpu: null,
      },
    ])
    process().tell({ type: 'loaded' })
    expect(process().of('run')).toEqual([
      { type: 'run', jobs: [{ jobId: 1, attempt: 1, params: new Uint8Array([1]) }] },
    ])
    expect(slot.state).toBe('busy')
    process().tell({ type: 'results', results: [{ jobId: 1, ms: 3, ok: true, value }] })
    expect(told.outcomes).toEqual([{ jobId: 1, leaseId: 1, ok: true, value }])
    expect(slot.state).toBe('idle')
    expect(slot.poolId).toBe(1)
  })

  it('tells the job it was running as lost when its process crashes, gives back the rest, and restarts after the backoff', async () => {
    const { slot, process, pools, told } = oneSlot()
    await loaded(slot, pools, process())
    slot.run([job(2)])
    process().begin(1)
    process().exit('slot 0 exited with code 1')
    expect(told.outcomes).toEqual([
      { jobId: 1, leaseId: 1, ok: false, lost: true, error: { name: SLOT_DIED, message: 'slot 0 exited with code 1' } },
    ])
    expect(told.released).toEqual([[2]])
    expect(told.notices).toEqual(['slot 0 exited with code 1 while running job 1 (attempt 1); restarting it in 100 ms'])
    expect(slot.state).toBe('down')
    expect(slot.poolId).toBeUndefined()
    vi.advanceTimersByTime(99)
    expect(process().starts).toBe(1)
    vi.advanceTimersByTime(1)
    expect(process().starts).toBe(2)
    expect(slot.state).toBe('idle')
  })

  it('stays down after five crashes in a row, and says so', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const { slot, process: child, told } = oneSlot()
    for (let crash = 1; crash <= 5; crash++) {
      child().exit()
      vi.runOnlyPendingTimers()
    }
    expect(slot.state).toBe('broken')
    expect(slot.up).toBe(false)
    expect(told.broken).toBe(1)
    expect(child().starts).toBe(5)
    expect(told.notices.at(-1)).toBe(
      'slot 0 exited with code 1 with no job running; it crashed 5 times in a row: it stays down',
    )
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/slot 0 crashed 5 times in a row .* it stays down/))
  })

  it('aborts a job at its timeout, and past the grace kills the slot and replaces it, blameless', async () => {
    const { slot, process, pools, told } = oneSlot()
    await loaded(slot, pools, process(), job(1, { timeoutMs: 500 }))
    process().begin(1)
    vi.advanceTimersByTime(499)
    expect(told.outcomes).toEqual([])
    vi.advanceTimersByTime(1)
    expect(told.outcomes).toMatchObject([{ jobId: 1, ok: false, error: { name: 'TimeoutError' } }])
    expect(process().of('abort')).toEqual([{ type: 'abort', jobId: 1, reason: 'timeout' }])
    vi.advanceTimersByTime(999)
    expect(process().kills).toBe(0)
    vi.advanceTimersByTime(1)
    expect(process().kills).toBe(1)
    expect(told.notices).toEqual([
      'slot 0: job 1 (attempt 1) ran on 1000 ms after its timeout (timeoutMs 500) aborted ctx.signal: killing the slot (SIGKILL)',
    ])
    process().exit('slot 0 was killed by SIGKILL')
    expect(told.outcomes).toHaveLength(1) // the timeout was its outcome: no loss is told
    expect(told.notices.at(-1)).toBe(
      'slot 0 was killed by SIGKILL after job 1 (attempt 1) ignored its abort; restarting it',
    )
    vi.advanceTimersByTime(0)
    expect(process().starts).toBe(2)
    expect(slot.state).toBe('idle')
  })

  it('drops the answer of a job that stops in time after its abort', async () => {
    const { slot, process, pools, told } = oneSlot()
    await loaded(slot, pools, process())
    slot.cancel(new Set([1]))
    expect(process().of('abort')).toEqual([{ type: 'abort', jobId: 1, reason: 'cancel' }])
    process().tell({ type: 'results', results: [{ jobId: 1, ms: 3, ok: true, value }] })
    vi.advanceTimersByTime(2000)
    expect(told.outcomes).toEqual([])
    expect(process().kills).toBe(0)
  })

  it('replaces its process after maxJobsPerSlot jobs, once the worker is disposed of', async () => {
    const { slot, process, pools, told } = oneSlot({ maxJobsPerSlot: 2 })
    await loaded(slot, pools, process())
    process().tell({ type: 'results', results: [{ jobId: 1, ms: 3, ok: true, value }] })
    expect(slot.phase).toBe('ready')
    slot.run([job(2)])
    process().tell({ type: 'results', results: [{ jobId: 2, ms: 3, ok: true, value }] })
    expect(told.outcomes.map((o) => o.jobId)).toEqual([1, 2])
    expect(slot.phase).toBe('recycling')
    expect(slot.state).toBe('loading')
    expect(process().of('dispose')).toHaveLength(1)
    process().tell({ type: 'disposed' })
    await settle()
    expect(process().stops).toBe(1)
    expect(process().starts).toBe(2)
    expect(slot.phase).toBe('ready')
    expect(slot.poolId).toBeUndefined()
    expect(slot.jobs.handed).toBe(0)
  })

  it('kills a process whose worker does not dispose of itself in time when it is replaced', async () => {
    const { slot, process, pools } = oneSlot({ maxJobsPerSlot: 1 })
    await loaded(slot, pools, process())
    process().tell({ type: 'results', results: [{ jobId: 1, ms: 3, ok: true, value }] })
    expect(slot.phase).toBe('recycling')
    vi.advanceTimersByTime(9999)
    expect(process().kills).toBe(0)
    vi.advanceTimersByTime(1)
    expect(process().kills).toBe(1)
  })

  it('disposes of its worker as the node stops, then ends its process', async () => {
    const { slot, process, pools } = oneSlot()
    await loaded(slot, pools, process())
    process().tell({ type: 'results', results: [{ jobId: 1, ms: 3, ok: true, value }] })
    const disposed = slot.dispose()
    await settle()
    expect(process().of('dispose')).toHaveLength(1)
    process().tell({ type: 'disposed' })
    await disposed
    await slot.stop()
    expect(process().stops).toBe(1)
    process().exit() // a late exit: no restart as the node stops
    vi.runAllTimers()
    expect(process().starts).toBe(1)
  })
})

describe('a closed pool on a node', () => {
  it("an idle slot disposes of its worker at once; a busy one waits for its jobs; an open pool's slot keeps it", async () => {
    const idle = oneSlot()
    await loaded(idle.slot, idle.pools, idle.process())
    idle.process().tell({ type: 'results', results: [{ jobId: 1, ms: 3, ok: true, value }] })
    const open = idle.slot.disposeIfClosed()
    expect(open).toBe(false)
    idle.pools.close(1)
    expect(idle.slot.disposeIfClosed()).toBe(true)
    expect(idle.slot.phase).toBe('disposing')
    expect(idle.process().of('dispose')).toEqual([{ type: 'dispose' }])
    const busy = oneSlot()
    await loaded(busy.slot, busy.pools, busy.process())
    busy.pools.close(1)
    expect(busy.slot.disposeIfClosed()).toBe(false)
    busy.process().tell({ type: 'results', results: [{ jobId: 1, ms: 3, ok: true, value }] })
    expect(busy.slot.phase).toBe('disposing') // once its job ended
  })

  it('is forgotten once no slot holds it', () => {
    const told = newTold()
    const pools = fakePools(told)
    pools.add(spec(1))
    pools.close(1)
    let held = true
    pools.forgetClosed(() => held)
    expect(pools.has(1)).toBe(true)
    held = false
    pools.forgetClosed(() => held)
    expect(pools.has(1)).toBe(false)
  })
})

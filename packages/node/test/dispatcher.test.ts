import { encodeValue, type JobOutcome, type LeasedJob } from '@meshpool/core'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Dispatcher } from '../src/node/dispatcher.js'
import type { Slot } from '../src/node/slot.js'
import { type FakeProcess, fakePools, fakeSlots, job, newTold, settle, spec } from './fake-slot.js'

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

/** A dispatcher over `count` started slots of fake processes, and what it told its head. */
function dispatcherOf(count: number, more: Parameters<typeof spec>[1] = {}) {
  const told = newTold()
  const pools = fakePools(told)
  pools.add(spec(1, more))
  const head = {
    pulls: [] as number[],
    /** The least each pull must come to before it goes out (see HeadLink.pull). */
    atLeast: [] as Array<number | undefined>,
    released: [] as number[][],
    results: [] as JobOutcome[],
    caughtUp: 0,
  }
  let dispatcher: Dispatcher | undefined
  const { slots, processes } = fakeSlots(count, pools, told, () => dispatcher?.pump())
  dispatcher = new Dispatcher({
    slots,
    pools,
    head: {
      release: (jobIds) => head.released.push(jobIds),
      result: (outcome) => head.results.push(outcome),
      pull: (want, atLeast) => {
        head.pulls.push(want)
        head.atLeast.push(atLeast)
      },
    },
    catchUp: () => head.caughtUp++,
  })
  for (const slot of slots) slot.start()
  return { dispatcher, slots, processes: processes as FakeProcess[], pools, head, told }
}

const ok = (jobId: number) => ({ jobId, ms: 10, ok: true as const, value: encodeValue(jobId) })
/** The job ids of each run message a process was sent, in order. */
const runs = (process: FakeProcess) => process.of('run').map((run) => run.jobs.map((j) => j.jobId))
const jobs = (...ids: number[]): LeasedJob[] => ids.map((id) => job(id))

describe("a node's dispatcher", () => {
  it('asks for two jobs per empty slot, less those it holds, and twice the batch of a slot with a worker', async () => {
    const { dispatcher, head, processes } = dispatcherOf(2)
    head.pulls.length = 0
    dispatcher.pull()
    expect(head.pulls).toEqual([4])
    dispatcher.lease(jobs(1, 2, 3))
    // Jobs 1 and 2 wait for a worker to load on each slot, job 3 in the queue: 3 held. Each slot
    // then holds the pool, whose batch is 20 ms of work at its first guess of 10 ms a job: 2 jobs.
    expect(head.pulls.at(-1)).toBe(2 * 2 + 2 * 2 - 3)
    await settle()
    for (const process of processes) process.tell({ type: 'loaded' })
    expect(processes.map(runs)).toEqual([[[1], [3]], [[2]]])
  })

  it('asks at once while it holds nothing, else only once half of what it may hold is free', async () => {
    const { dispatcher, head } = dispatcherOf(2)
    dispatcher.pull()
    expect(head.atLeast.at(-1)).toBe(1)
    dispatcher.lease(jobs(1))
    // The slot the job went to may hold 4 now (twice its pool's batch of 2 at the first guess of 10 ms
    // a job), the other 2: 6 in all. With one held, the next pull waits until 3 are free.
    expect([head.pulls.at(-1), head.atLeast.at(-1)]).toEqual([5, 3])
  })

  it('hands one pool its jobs in order, in batches of what a slot can take, the rest as results come back', async () => {
    const { dispatcher, processes } = dispatcherOf(1)
    const [process] = processes as [FakeProcess]
    dispatcher.lease(jobs(1, 2, 3, 4, 5))
    await settle()
    process.tell({ type: 'loaded' })
    expect(runs(process)).toEqual([[1], [2]])
    process.tell({ type: 'results', results: [ok(1), ok(2)] })
    expect(runs(process)).toEqual([[1], [2], [3, 4]])
    process.tell({ type: 'results', results: [ok(3), ok(4)] })
    expect(runs(process)).toEqual([[1], [2], [3, 4], [5]])
  })

  it('runs a job with a timeout alone, so that its clock starts when it does', async () => {
    const { dispatcher, processes } = dispatcherOf(1)
    const [process] = processes as [FakeProcess]
    dispatcher.lease([job(1), job(2, { timeoutMs: 1000 }), job(3)])
    await settle()
    process.tell({ type: 'loaded' })
    // Job 2 waits for the slot to be empty; job 3, behind it, may join job 1 meanwhile.
    expect(runs(process)).toEqual([[1], [3]])
    process.tell({ type: 'results', results: [ok(1), ok(3)] })
    expect(runs(process)).toEqual([[1], [3], [2]])
    dispatcher.lease(jobs(4))
    expect(runs(process)).toEqual([[1], [3], [2]])
    process.tell({ type: 'results', results: [ok(2)] })
    expect(runs(process)).toEqual([[1], [3], [2], [4]])
  })

  it('holds a job leased after updates the node lacks until they are here, catching up meanwhile', async () => {
    const { dispatcher, processes, head, pools } = dispatcherOf(1)
    const [process] = processes as [FakeProcess]
    dispatcher.lease([job(1, { updateSeq: 1 })])
    expect(head.caughtUp).toBe(1)
    expect(process.sent).toEqual([])
    pools.get(1)?.updates.accept({ poolId: 1, seq: 1, value: encodeValue('u') })
    dispatcher.pump()
    await settle()
    process.tell({ type: 'loaded' })
    expect(process.sent.map((m) => m.type)).toEqual(['load', 'update', 'run'])
  })

  it("gives back a pool's jobs once its worker can't start here, telling the head once", async () => {
    const { dispatcher, processes, head, told } = dispatcherOf(1)
    const [process] = processes as [FakeProcess]
    dispatcher.lease(jobs(1))
    await settle()
    process.tell({ type: 'loadFailed', error: { name: 'WorkerLoadError', message: "Cannot find module '/w.js'" } })
    expect(told.released).toEqual([[1]])
    dispatcher.lease(jobs(2, 3))
    expect(head.released).toEqual([[2, 3]])
    expect(told.head).toEqual([
      { type: 'loadFailed', poolId: 1, error: { name: 'WorkerLoadError', message: "Cannot find module '/w.js'" } },
    ])
  })

  it('gives back what it holds when no slot can run it, and on a drain the jobs not started', async () => {
    const { dispatcher, slots, processes, head } = dispatcherOf(1)
    const [process] = processes as [FakeProcess]
    dispatcher.lease(jobs(1, 2, 3))
    await settle()
    process.tell({ type: 'loaded' })
    expect(runs(process)).toEqual([[1], [2]])
    expect(dispatcher.drain()).toEqual([3, 2])
    expect(process.of('abort')).toEqual([{ type: 'abort', jobId: 2, reason: 'cancel' }])
    expect(dispatcher.busySlots()).toBe(1)
    dispatcher.lease(jobs(4))
    expect(head.released).toEqual([[4]])
    const down = dispatcherOf(1)
    ;(down.slots[0] as Slot).dispose().catch(() => {}) // no restart: the slot stays down once it exits
    ;(down.processes[0] as FakeProcess).exit()
    down.dispatcher.lease(jobs(5, 6))
    expect(down.head.released).toEqual([[5, 6]])
    expect(slots[0]?.state).toBe('busy')
  })
})

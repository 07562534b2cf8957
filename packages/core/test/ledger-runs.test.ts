import { JobLedger, type LeasedJob, type SubmittedJob } from '@meshpool/core'
import { describe, expect, it } from 'vitest'

/** A submit frame's jobs: ids `first…first+n-1`, each with params of its own. */
const frame = (first: number, n: number, timeoutMs?: number): SubmittedJob[] =>
  Array.from({ length: n }, (_, i) => ({ id: first + i, params: new Uint8Array([first + i, 7, 7]), timeoutMs }))

function clocked() {
  const clock = { t: 1000 }
  const book = new JobLedger({ now: () => clock.t, random: () => 0.5 })
  book.addPool(1, { leaseMs: 3000 })
  return { book, clock }
}

describe('jobs submitted as a frame (kept in columns until leased)', () => {
  it('lease in submission order with their params and time limits intact, each job once', () => {
    const { book } = clocked()
    book.submitMany(1, frame(0, 100, 250))
    book.submitMany(1, frame(100, 50))
    expect(book.queuedCount(1)).toBe(150)
    const leased: LeasedJob[] = []
    for (;;) {
      const jobs = book.lease('n1', 7)
      if (jobs.length === 0) break
      leased.push(...jobs)
    }
    expect(leased.map((job) => job.params[0])).toEqual(Array.from({ length: 150 }, (_, i) => i % 256))
    expect(leased.every((job) => job.params[1] === 7 && job.params.byteLength === 3)).toBe(true)
    expect(leased.map((job) => job.timeoutMs)).toEqual([...Array(100).fill(250), ...Array(50).fill(0)])
    expect(new Set(leased.map((job) => job.jobId)).size).toBe(150)
    expect(book.counts()).toMatchObject({ queued: 0, leased: 150 })
  })

  it('results reach the client under its own ids', () => {
    const { book } = clocked()
    book.submitMany(1, frame(40, 3))
    const ids = book.lease('n1', 3).map((job) => {
      const routed = book.complete('n1', { jobId: job.jobId, leaseId: job.leaseId, ok: true, value: job.params })
      return routed?.outcome.id
    })
    expect(ids).toEqual([40, 41, 42])
    expect(book.counts()).toMatchObject({ queued: 0, leased: 0, done: 3 })
  })

  it('a cancelled queued job is never leased, and the others still are', () => {
    const { book } = clocked()
    book.submitMany(1, frame(0, 10))
    expect(book.cancel(1, [0, 3, 9, 55])).toEqual([])
    expect(book.queuedCount()).toBe(7)
    const leased = book.lease('n1', 100).map((job) => job.params[0])
    expect(leased).toEqual([1, 2, 4, 5, 6, 7, 8])
    expect(book.queuedCount()).toBe(0)
  })

  it('a repeated client id keeps its first job (no job runs twice)', () => {
    const { book } = clocked()
    book.submitMany(1, frame(0, 5))
    book.submitMany(1, frame(3, 4)) // 3 and 4 again, 5 and 6 new
    expect(book.queuedCount()).toBe(7)
    const first = book.lease('n1', 2)
    book.submitMany(1, frame(0, 2)) // leased ones again
    expect(book.lease('n1', 100).map((job) => job.params[0])).toEqual([2, 3, 4, 5, 6])
    expect(first.map((job) => job.params[0])).toEqual([0, 1])
  })

  it('a job from a run whose lease expires goes back to the front and its late result still wins', () => {
    const { book, clock } = clocked()
    book.submitMany(1, frame(0, 3))
    const [job] = book.lease('n1', 1) as [LeasedJob]
    clock.t += 3001
    expect(book.tick()).toEqual([])
    const again = book.lease('n2', 1)[0] as LeasedJob
    expect(again.jobId).toBe(job.jobId)
    expect(again.attempt).toBe(2)
    const late = book.complete('n1', { jobId: job.jobId, leaseId: job.leaseId, ok: true, value: new Uint8Array([1]) })
    expect(late?.cancelOn).toEqual({ nodeId: 'n2', jobId: job.jobId })
    expect(book.lease('n2', 9).map((j) => j.params[0])).toEqual([1, 2])
  })

  it('a closed pool drops what it had queued', () => {
    const { book } = clocked()
    book.submitMany(1, frame(0, 1000))
    book.lease('n1', 10)
    expect(book.removePool(1)).toHaveLength(10)
    expect(book.counts()).toMatchObject({ queued: 0, leased: 0 })
    expect(book.lease('n1', 10)).toEqual([])
  })

  it('pools still take turns', () => {
    const { book } = clocked()
    book.addPool(2)
    book.submitMany(1, frame(0, 4))
    book.submitMany(2, frame(100, 4))
    expect(book.lease('n1', 4).map((job) => job.poolId)).toEqual([1, 2, 1, 2])
  })
})

describe('big params', () => {
  it('are leased as the very bytes submitted (no copy), beside small jobs of the same frame', () => {
    const { book } = clocked()
    const big = new Uint8Array(1 << 20).fill(3)
    book.submitMany(1, [...frame(0, 2), { id: 2, params: big }, ...frame(3, 2)])
    const leased = book.lease('n1', 10)
    expect(leased).toHaveLength(5)
    expect(leased.find((job) => job.params.byteLength === big.byteLength)?.params).toBe(big)
    book.submitMany(1, [{ id: 2, params: big }])
    expect(book.queuedCount()).toBe(0)
  })
})

describe('a pool no node can run', () => {
  it('is leased to no node that cannot run it, and its unleased jobs can be failed at once', () => {
    const { book, clock } = clocked()
    book.addPool(2)
    book.submitMany(1, frame(0, 3))
    book.submit(1, 50, new Uint8Array([50]))
    book.submitMany(2, frame(10, 2))
    expect(book.lease('n1', 10, undefined, (poolId) => poolId === 2).map((job) => job.poolId)).toEqual([2, 2])
    const held = book.lease('n2', 1)[0] as LeasedJob
    const error = { name: 'WorkerLoadError', message: "Cannot find package 'left-pad'" }
    const failed = book.failQueued(1, error)
    expect(failed.map((f) => f.outcome.id).sort((a, b) => a - b)).toEqual([1, 2, 50])
    expect(failed.every((f) => f.poolId === 1 && !f.outcome.ok)).toBe(true)
    expect(book.counts()).toMatchObject({ queued: 0, failed: 3, leased: 3 })
    clock.t += 1
    const routed = book.complete('n2', { jobId: held.jobId, leaseId: held.leaseId, ok: true, value: held.params })
    expect(routed?.outcome).toMatchObject({ id: 0, ok: true })
  })
})

describe('open jobs per pool (the bound on one client)', () => {
  it('counts every job from submit until it is done, failed or cancelled, however it went', () => {
    const { book, clock } = clocked()
    book.addPool(2, { retries: 1 })
    book.submitMany(1, frame(0, 10))
    book.submit(1, 100, new Uint8Array(5000)) // a big one takes the object path
    book.submit(1, 100, new Uint8Array(1)) // a repeated id keeps its job and counts once
    expect(book.openCount(1)).toBe(11)
    const jobs = book.lease('n1', 4)
    expect(book.openCount(1)).toBe(11)
    book.complete('n1', {
      jobId: (jobs[0] as LeasedJob).jobId,
      leaseId: (jobs[0] as LeasedJob).leaseId,
      ok: true,
      value: new Uint8Array(),
    })
    expect(book.openCount(1)).toBe(10)
    book.cancel(1, [5, 6, 1]) // two queued in the run, one leased
    expect(book.openCount(1)).toBe(7)
    clock.t += 10_000
    book.tick() // expired leases go back to the queue: still open
    expect(book.openCount(1)).toBe(7)
    book.failQueued(1, { name: 'WorkerLoadError', message: 'x' })
    expect(book.openCount(1)).toBe(0)

    book.submitMany(2, frame(0, 1))
    const [job] = book.lease('n1', 1) as [LeasedJob]
    book.complete('n1', {
      jobId: job.jobId,
      leaseId: job.leaseId,
      ok: false,
      error: { name: 'Error', message: 'boom' },
    })
    expect(book.openCount(2)).toBe(1) // waiting to retry
    clock.t += 60_000
    book.tick()
    const [again] = book.lease('n1', 1) as [LeasedJob]
    book.complete('n1', {
      jobId: again.jobId,
      leaseId: again.leaseId,
      ok: false,
      error: { name: 'Error', message: 'boom' },
    })
    expect(book.openCount(2)).toBe(0)
  })
})

describe('what the metrics read', () => {
  it('counts every lease given, and says how long each job took from submit to outcome', () => {
    const { book, clock } = clocked()
    book.submitMany(1, frame(0, 2))
    book.submit(1, 50, new Uint8Array(5000))
    clock.t += 40
    const jobs = book.lease('n1', 3)
    expect(book.counts().leases).toBe(3)
    clock.t += 60
    const routed = jobs.map((job) =>
      book.complete('n1', { jobId: job.jobId, leaseId: job.leaseId, ok: true, value: job.params }),
    )
    expect(routed.map((r) => r?.ms)).toEqual([100, 100, 100])
    clock.t += 10_000
    book.submitMany(1, frame(10, 1))
    const [again] = book.lease('n1', 1) as [LeasedJob]
    clock.t += 5000 // past the lease: it goes back, and the next lease counts too
    book.tick()
    book.lease('n1', 1)
    expect(book.counts().leases).toBe(5)
    expect(again.attempt).toBe(1)
  })
})

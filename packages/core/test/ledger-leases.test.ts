import {
  JobLedger,
  type JobOutcome,
  type LeasedJob,
  MAX_RETRY_BACKOFF_MS,
  RETRY_BACKOFF_MS,
  type RoutedOutcome,
} from '@meshpool/core'
import { describe, expect, it } from 'vitest'

const params = (n: number): Uint8Array => new Uint8Array([n])
const ok = (job: LeasedJob, n = 1): JobOutcome => ({
  jobId: job.jobId,
  leaseId: job.leaseId,
  ok: true,
  value: params(n),
})
const threw = (job: LeasedJob): JobOutcome => ({
  jobId: job.jobId,
  leaseId: job.leaseId,
  ok: false,
  error: { name: 'TypeError', message: 'boom' },
})

/** A ledger on a clock the test moves by hand. */
function clocked(settings: { leaseMs?: number; retries?: number; maxAttempts?: number } = {}) {
  const clock = { t: 1000 }
  const book = new JobLedger({ now: () => clock.t, random: () => 0.5 })
  book.addPool(1, settings)
  return { book, clock }
}

const only = (jobs: LeasedJob[]): LeasedJob => {
  expect(jobs).toHaveLength(1)
  return jobs[0] as LeasedJob
}

describe('leases', () => {
  it('expire after leaseMs without renewal: the job goes back to the queue and counts an attempt', () => {
    const { book, clock } = clocked({ leaseMs: 3000 })
    book.submit(1, 0, params(0))
    const first = only(book.lease('a', 1))
    clock.t += 2999
    expect(book.tick()).toEqual([])
    expect(book.stateOf(first.jobId)).toBe('leased')
    clock.t += 1
    expect(book.tick()).toEqual([])
    expect(book.stateOf(first.jobId)).toBe('queued')
    expect(book.counts()).toMatchObject({ queued: 1, leased: 0, expired: 1 })
    const second = only(book.lease('b', 1))
    expect(second).toMatchObject({ jobId: first.jobId, attempt: 2 })
    expect(second.leaseId).not.toBe(first.leaseId)
  })

  it('are renewed by the holder heartbeat, and only its own', () => {
    const { book, clock } = clocked({ leaseMs: 1000 })
    book.submit(1, 0, params(0))
    book.submit(1, 1, params(1))
    const a = only(book.lease('a', 1))
    const b = only(book.lease('b', 1))
    for (let i = 0; i < 10; i++) {
      clock.t += 900
      expect(book.renew('a')).toBe(1)
      book.tick()
    }
    expect(book.stateOf(a.jobId)).toBe('leased')
    expect(book.stateOf(b.jobId)).toBe('queued')
    expect(book.renew('nobody')).toBe(0)
  })

  it('use each pool its own leaseMs', () => {
    const clock = { t: 0 }
    const book = new JobLedger({ now: () => clock.t })
    book.addPool(1, { leaseMs: 500 })
    book.addPool(2, { leaseMs: 5000 })
    book.submit(1, 0, params(0))
    book.submit(2, 0, params(0))
    const [short, long] = book.lease('a', 2)
    clock.t = 600
    book.tick()
    expect(book.stateOf((short as LeasedJob).jobId)).toBe('queued')
    expect(book.stateOf((long as LeasedJob).jobId)).toBe('leased')
  })

  it('fail the job with WorkerLostError once expiries use up maxAttempts', () => {
    const { book, clock } = clocked({ leaseMs: 100, maxAttempts: 2 })
    book.submit(1, 9, params(9))
    book.lease('a', 1)
    clock.t += 100
    expect(book.tick()).toEqual([])
    book.lease('b', 1)
    clock.t += 100
    const [failed] = book.tick()
    expect(failed?.outcome).toMatchObject({ id: 9, ok: false, error: { name: 'WorkerLostError' } })
    expect(((failed as RoutedOutcome).outcome as { error: { message: string } }).error.message).toMatch(
      /a \(lease expired.*b \(lease expired/,
    )
  })

  it('start their ids at a random point, so a restarted head never matches an old lease', () => {
    const a = new JobLedger({ now: () => 0, random: () => 0.1 })
    const b = new JobLedger({ now: () => 0, random: () => 0.9 })
    for (const book of [a, b]) {
      book.addPool(1)
      book.submit(1, 0, params(0))
    }
    expect(only(a.lease('n', 1)).leaseId).not.toBe(only(b.lease('n', 1)).leaseId)
  })
})

describe('late and foreign results', () => {
  it('a late result from an expired lease wins while the job is open, and the new holder is told to stop', () => {
    const { book, clock } = clocked({ leaseMs: 100 })
    book.submit(1, 4, params(4))
    const old = only(book.lease('frozen', 1))
    clock.t += 100
    book.tick()
    const current = only(book.lease('fresh', 1))
    const routed = book.complete('frozen', ok(old, 8))
    expect(routed).toEqual({
      poolId: 1,
      outcome: { id: 4, ok: true, value: params(8) },
      cancelOn: { nodeId: 'fresh', jobId: current.jobId },
      ms: 100, // from submit to the late result
    })
    // The new holder's answer comes too late: dropped.
    expect(book.complete('fresh', ok(current, 9))).toBeUndefined()
    expect(book.counts()).toMatchObject({ done: 1, leased: 0, queued: 0 })
  })

  it('a late result for a job still queued wins too; one for a finished job is dropped', () => {
    const { book, clock } = clocked({ leaseMs: 100 })
    book.submit(1, 0, params(0))
    const old = only(book.lease('frozen', 1))
    clock.t += 100
    book.tick()
    expect(book.complete('frozen', ok(old))).toMatchObject({ outcome: { id: 0, ok: true } })
    expect(book.queuedCount()).toBe(0)
    expect(book.complete('frozen', ok(old))).toBeUndefined()
  })

  it('a node that reconnects may still deliver what it finished while it was away', () => {
    const { book } = clocked()
    book.submit(1, 3, params(3))
    const job = only(book.lease('a', 1))
    expect(book.releaseNode('a')).toEqual([])
    expect(book.queuedCount()).toBe(1)
    expect(book.complete('a', ok(job, 6))).toMatchObject({ outcome: { id: 3, ok: true } })
    expect(book.queuedCount()).toBe(0)
    expect(book.lease('b', 1)).toEqual([])
  })

  it('a late failure from an expired lease changes nothing', () => {
    const { book, clock } = clocked({ leaseMs: 100 })
    book.submit(1, 0, params(0))
    const old = only(book.lease('frozen', 1))
    clock.t += 100
    book.tick()
    expect(book.complete('frozen', threw(old))).toBeUndefined()
    expect(book.queuedCount()).toBe(1)
  })

  it('a node may only report leases it was given', () => {
    const { book } = clocked()
    book.submit(1, 0, params(0))
    const job = only(book.lease('a', 1))
    expect(book.complete('b', ok(job))).toBeUndefined()
    expect(book.complete('a', { ...ok(job), leaseId: job.leaseId + 1 })).toBeUndefined()
    expect(book.stateOf(job.jobId)).toBe('leased')
    expect(book.complete('a', ok(job))).toBeDefined()
  })
})

describe('retries', () => {
  it('rerun a job that threw after a backoff that doubles, then give up with the error', () => {
    const { book, clock } = clocked({ retries: 2 })
    book.submit(1, 0, params(0))
    expect(book.complete('a', threw(only(book.lease('a', 1))))).toBeUndefined()
    expect(book.counts()).toMatchObject({ waiting: 1, queued: 0 })
    clock.t += RETRY_BACKOFF_MS - 1
    book.tick()
    expect(book.lease('a', 1)).toEqual([])
    clock.t += 1
    book.tick()
    const second = only(book.lease('a', 1))
    expect(second.attempt).toBe(2)
    expect(book.complete('a', threw(second))).toBeUndefined()
    clock.t += RETRY_BACKOFF_MS
    book.tick()
    expect(book.lease('a', 1)).toEqual([])
    clock.t += RETRY_BACKOFF_MS
    book.tick()
    const third = only(book.lease('a', 1))
    expect(book.complete('a', threw(third))).toMatchObject({ outcome: { ok: false, error: { name: 'TypeError' } } })
    expect(MAX_RETRY_BACKOFF_MS).toBeGreaterThan(RETRY_BACKOFF_MS)
  })

  it('do not apply to an aborted job', () => {
    const { book } = clocked({ retries: 5 })
    book.submit(1, 0, params(0))
    const job = only(book.lease('a', 1))
    const aborted: JobOutcome = {
      jobId: job.jobId,
      leaseId: job.leaseId,
      ok: false,
      error: { name: 'AbortError', message: 'x' },
    }
    expect(book.complete('a', aborted)).toMatchObject({ outcome: { ok: false, error: { name: 'AbortError' } } })
  })
})

describe('cancel and release', () => {
  it('cancel drops queued and waiting jobs and returns the leased ones to stop on their nodes', () => {
    const { book } = clocked({ retries: 1 })
    for (let id = 0; id < 5; id++) book.submit(1, id, params(id))
    const [j0, j1] = book.lease('a', 2) as [LeasedJob, LeasedJob]
    book.complete('a', threw(j1))
    expect(book.counts()).toMatchObject({ queued: 3, leased: 1, waiting: 1 })
    const toStop = book.cancel(1, [0, 1, 2, 3])
    expect(toStop).toEqual([{ nodeId: 'a', jobId: j0.jobId }])
    expect(book.counts()).toMatchObject({ queued: 1, leased: 0, waiting: 0 })
    const left = only(book.lease('a', 5))
    expect([...left.params]).toEqual([4])
    expect(book.complete('a', ok(j0))).toBeUndefined()
  })

  it('release gives a draining node jobs back to the front without counting an attempt', () => {
    const { book } = clocked()
    for (let id = 0; id < 3; id++) book.submit(1, id, params(id))
    const leased = book.lease('a', 2)
    expect(
      book.release(
        'a',
        leased.map((j) => j.jobId),
      ),
    ).toBe(2)
    expect(book.release('b', [leased[0]?.jobId ?? 0])).toBe(0)
    const again = book.lease('b', 3)
    expect(again.map((j) => [...j.params][0])).toEqual([0, 1, 2])
    expect(again.map((j) => j.attempt)).toEqual([1, 1, 1])
  })

  it('submitting the same client id twice queues the job once (a client resubmitting after a reconnect)', () => {
    const { book } = clocked()
    const first = book.submit(1, 7, params(7))
    expect(book.submit(1, 7, params(7))).toBe(first)
    expect(book.queuedCount()).toBe(1)
  })
})

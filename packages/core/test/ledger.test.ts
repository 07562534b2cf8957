import {
  DEFAULT_MAX_ATTEMPTS,
  JobLedger,
  type JobOutcome,
  type LeasedJob,
  type LedgerCounts,
  type RoutedOutcome,
} from '@meshpool/core'
import { describe, expect, it } from 'vitest'

const params = (n: number): Uint8Array => new Uint8Array([n])

const done = (job: LeasedJob, value = params(200)): JobOutcome => ({
  jobId: job.jobId,
  leaseId: job.leaseId,
  ok: true,
  value,
})
const threw = (job: LeasedJob, message = 'boom'): JobOutcome => ({
  jobId: job.jobId,
  leaseId: job.leaseId,
  ok: false,
  error: { name: 'TypeError', message, stack: `TypeError: ${message}\n    at run (worker.js:1:1)` },
})
const lost = (job: LeasedJob, message = 'exit code 137'): JobOutcome => ({
  jobId: job.jobId,
  leaseId: job.leaseId,
  ok: false,
  error: { name: 'Error', message },
  lost: true,
})

function ledger(maxAttempts?: number, pools: number[] = [1]): JobLedger {
  let t = 0
  const book = new JobLedger({ now: () => t++, ...(maxAttempts === undefined ? {} : { maxAttempts }) })
  for (const pool of pools) book.addPool(pool)
  return book
}

/** Submits `n` jobs to a pool with client ids `first`, `first + 1`, …; the params hold the client id. */
function submitMany(book: JobLedger, poolId: number, n: number, first = 0): number[] {
  return Array.from({ length: n }, (_, i) => book.submit(poolId, first + i, params(first + i)))
}

const one = (jobs: LeasedJob[]): LeasedJob => {
  expect(jobs).toHaveLength(1)
  return jobs[0] as LeasedJob
}

const counts = (queued: number, leased: number, doneCount = 0, failed = 0): LedgerCounts => ({
  queued,
  leased,
  waiting: 0,
  done: doneCount,
  failed,
  expired: 0,
  leases: expect.any(Number), // counted in its own test
})

describe('submit, lease, complete', () => {
  it('a job goes from queued to leased to routed, and leaves the book', () => {
    const book = ledger()
    const jobId = book.submit(1, 77, params(7))
    expect(book.stateOf(jobId)).toBe('queued')
    expect(book.counts()).toStrictEqual(counts(1, 0))

    const job = one(book.lease('node-a', 4, (poolId) => poolId * 10))
    expect(job).toMatchObject({ jobId, poolId: 1, attempt: 1, updateSeq: 10 })
    expect(job.leaseId).toBeGreaterThan(0)
    expect([...job.params]).toStrictEqual([7])
    expect(book.stateOf(jobId)).toBe('leased')
    expect(book.heldBy('node-a')).toBe(1)
    expect(book.counts()).toStrictEqual(counts(0, 1))

    const routed = book.complete('node-a', done(job, params(42)))
    expect(routed).toStrictEqual({
      poolId: 1,
      outcome: { id: 77, ok: true, value: params(42) },
      ms: expect.any(Number),
    })
    expect(book.stateOf(jobId)).toBeUndefined()
    expect(book.heldBy('node-a')).toBe(0)
    expect(book.counts()).toStrictEqual(counts(0, 0, 1, 0))
  })

  it('an exception in run is routed as a failure with where it ran', () => {
    const book = ledger()
    book.submit(1, 5, params(5))
    const job = one(book.lease('node-b', 1))
    expect(book.complete('node-b', threw(job, 'bad input'))).toStrictEqual({
      poolId: 1,
      outcome: {
        id: 5,
        ok: false,
        error: { name: 'TypeError', message: 'bad input', stack: 'TypeError: bad input\n    at run (worker.js:1:1)' },
        where: 'node-b',
      },
      ms: expect.any(Number),
    })
    expect(book.counts()).toStrictEqual(counts(0, 0, 0, 1))
  })

  it('ids are unique across pools', () => {
    const book = ledger(undefined, [1, 2])
    const ids = [...submitMany(book, 1, 50), ...submitMany(book, 2, 50)]
    expect(new Set(ids).size).toBe(100)
    const leaseIds = book.lease('a', 100).map((j) => j.leaseId)
    expect(new Set(leaseIds).size).toBe(100)
  })

  it('leases a pool’s jobs in submission order, at most `max` at a time', () => {
    const book = ledger()
    submitMany(book, 1, 10)
    expect(book.lease('a', 0)).toStrictEqual([])
    expect(book.lease('a', -1)).toStrictEqual([])
    expect(book.lease('a', 3).map((j) => j.params[0])).toStrictEqual([0, 1, 2])
    expect(book.lease('b', 100).map((j) => j.params[0])).toStrictEqual([3, 4, 5, 6, 7, 8, 9])
    expect(book.lease('c', 5)).toStrictEqual([])
    expect(book.counts()).toStrictEqual(counts(0, 10))
    expect(book.heldBy('a') + book.heldBy('b')).toBe(10)
  })

  it('leases nothing when no pool has queued jobs', () => {
    expect(ledger().lease('a', 5)).toStrictEqual([])
    expect(new JobLedger({ now: () => 0 }).lease('a', 5)).toStrictEqual([])
  })

  it('refuses a job for a pool that is not open', () => {
    expect(() => ledger().submit(9, 1, params(1))).toThrow(/pool 9 is not open/)
  })

  it('asks the clock when it leases', () => {
    let calls = 0
    const book = new JobLedger({
      now: () => {
        calls++
        return 1000
      },
    })
    book.addPool(1)
    submitMany(book, 1, 3)
    book.lease('a', 3)
    expect(calls).toBeGreaterThan(0)
  })
})

describe('fairness between pools', () => {
  it('two pools interleave, even when one submitted everything first', () => {
    const book = ledger(undefined, [1, 2])
    submitMany(book, 1, 10, 100)
    submitMany(book, 2, 10, 200)
    const order = book.lease('a', 8).map((j) => j.poolId)
    expect(order).toStrictEqual([1, 2, 1, 2, 1, 2, 1, 2])
  })

  it('turns carry over from one lease call to the next', () => {
    const book = ledger(undefined, [1, 2, 3])
    for (const pool of [1, 2, 3]) submitMany(book, pool, 5)
    const order = Array.from({ length: 9 }, () => one(book.lease('a', 1)).poolId)
    expect(order).toStrictEqual([1, 2, 3, 1, 2, 3, 1, 2, 3])
  })

  it('a pool with few jobs does not hold back the others', () => {
    const book = ledger(undefined, [1, 2, 3])
    submitMany(book, 1, 1)
    submitMany(book, 3, 6)
    const order = book.lease('a', 10).map((j) => j.poolId)
    expect(order).toStrictEqual([1, 3, 3, 3, 3, 3, 3])
  })

  it('every pool gets an equal share while all have work', () => {
    const book = ledger(undefined, [1, 2, 3, 4])
    for (const pool of [1, 2, 3, 4]) submitMany(book, pool, 1000)
    const share = new Map<number, number>()
    for (let i = 0; i < 50; i++) {
      for (const job of book.lease(`node-${i % 3}`, 7)) share.set(job.poolId, (share.get(job.poolId) ?? 0) + 1)
    }
    const taken = [...share.values()]
    expect(taken.reduce((a, b) => a + b)).toBe(350)
    expect(Math.max(...taken) - Math.min(...taken)).toBeLessThanOrEqual(1)
  })

  it('adding a pool twice does not give it two turns', () => {
    const book = ledger(undefined, [1, 2])
    book.addPool(1)
    submitMany(book, 1, 5)
    submitMany(book, 2, 5)
    expect(book.lease('a', 4).map((j) => j.poolId)).toStrictEqual([1, 2, 1, 2])
  })

  it('routes each outcome to its own pool, with the id its client gave', () => {
    const book = ledger(undefined, [1, 2])
    // Both clients number their jobs from 0.
    submitMany(book, 1, 3)
    submitMany(book, 2, 3)
    const routed = book.lease('a', 6).map((job) => book.complete('a', done(job, job.params)) as RoutedOutcome)
    for (const { poolId, outcome } of routed) {
      expect(outcome.ok).toBe(true)
      if (outcome.ok) expect(outcome.value[0]).toBe(outcome.id)
      expect([1, 2]).toContain(poolId)
    }
    const byPool = (pool: number): number[] => routed.filter((r) => r.poolId === pool).map((r) => r.outcome.id)
    expect(byPool(1)).toStrictEqual([0, 1, 2])
    expect(byPool(2)).toStrictEqual([0, 1, 2])
  })
})

describe('stale and foreign reports change nothing', () => {
  function leasedOne(): { book: JobLedger; job: LeasedJob } {
    const book = ledger()
    submitMany(book, 1, 3)
    const job = one(book.lease('node-a', 1))
    return { book, job }
  }

  function expectIgnored(book: JobLedger, nodeId: string, report: JobOutcome): void {
    const before = { counts: book.counts(), a: book.heldBy('node-a'), b: book.heldBy('node-b'), q: book.queuedCount() }
    expect(book.complete(nodeId, report)).toBeUndefined()
    expect({
      counts: book.counts(),
      a: book.heldBy('node-a'),
      b: book.heldBy('node-b'),
      q: book.queuedCount(),
    }).toStrictEqual(before)
  }

  it('a report from a node that does not hold the lease', () => {
    const { book, job } = leasedOne()
    expectIgnored(book, 'node-b', done(job))
    expect(book.stateOf(job.jobId)).toBe('leased')
    // The holder's own report still counts.
    expect(book.complete('node-a', done(job))?.outcome.ok).toBe(true)
  })

  it('a report with the wrong lease id', () => {
    const { book, job } = leasedOne()
    expectIgnored(book, 'node-a', done({ ...job, leaseId: job.leaseId + 1 }))
    expectIgnored(book, 'node-a', lost({ ...job, leaseId: 0 }))
    expect(book.stateOf(job.jobId)).toBe('leased')
  })

  it('a second report for a job already done, of any kind', () => {
    const { book, job } = leasedOne()
    expect(book.complete('node-a', done(job))).toBeDefined()
    expectIgnored(book, 'node-a', done(job))
    expectIgnored(book, 'node-a', threw(job))
    expectIgnored(book, 'node-a', lost(job))
    expect(book.counts()).toStrictEqual(counts(2, 0, 1, 0))
  })

  it('a report for a job that failed', () => {
    const { book, job } = leasedOne()
    expect(book.complete('node-a', threw(job))).toBeDefined()
    expectIgnored(book, 'node-a', done(job))
  })

  it('a report for a job no one ever submitted', () => {
    const { book } = leasedOne()
    expectIgnored(book, 'node-a', { jobId: 9999, leaseId: 1, ok: true, value: params(0) })
    expectIgnored(book, 'node-a', { jobId: 0, leaseId: 0, ok: true, value: params(0) })
  })

  it('a failure reported on a lease its node lost when it left', () => {
    const { book, job } = leasedOne()
    book.releaseNode('node-a')
    expect(book.stateOf(job.jobId)).toBe('queued')
    expectIgnored(book, 'node-a', threw(job))
    expect(book.stateOf(job.jobId)).toBe('queued')
  })

  it('a report of the old lease by another node, and the new holder once the old one won', () => {
    const { book, job } = leasedOne()
    book.releaseNode('node-a')
    const again = one(book.lease('node-b', 1))
    expect(again.jobId).toBe(job.jobId)
    expect(again.leaseId).not.toBe(job.leaseId)
    expectIgnored(book, 'node-b', done(job))
    // The old holder came back with the result: first result wins, the new holder is told to stop.
    expect(book.complete('node-a', done(job))).toMatchObject({
      outcome: { id: 0, ok: true },
      cancelOn: { nodeId: 'node-b', jobId: job.jobId },
      ms: expect.any(Number),
    })
    expectIgnored(book, 'node-b', done(again))
  })
})

describe('lost workers', () => {
  it('a node that leaves puts its jobs back at the front, oldest first', () => {
    const book = ledger()
    submitMany(book, 1, 6)
    const held = book.lease('node-a', 3)
    expect(held.map((j) => j.params[0])).toStrictEqual([0, 1, 2])
    expect(book.releaseNode('node-a')).toStrictEqual([])
    expect(book.heldBy('node-a')).toBe(0)
    expect(book.counts()).toStrictEqual(counts(6, 0))

    const again = book.lease('node-b', 6)
    expect(again.map((j) => j.params[0])).toStrictEqual([0, 1, 2, 3, 4, 5])
    expect(again.map((j) => j.attempt)).toStrictEqual([2, 2, 2, 1, 1, 1])
    expect(again.slice(0, 3).map((j) => j.jobId)).toStrictEqual(held.map((j) => j.jobId))
  })

  it('a node that leaves returns its jobs to their own pools', () => {
    const book = ledger(undefined, [1, 2])
    submitMany(book, 1, 2)
    submitMany(book, 2, 2)
    book.lease('node-a', 4)
    book.releaseNode('node-a')
    expect(book.queuedCount(1)).toBe(2)
    expect(book.queuedCount(2)).toBe(2)
  })

  it('releasing a node that holds nothing, or is unknown, does nothing', () => {
    const book = ledger()
    submitMany(book, 1, 2)
    book.lease('node-a', 2)
    expect(book.releaseNode('node-z')).toStrictEqual([])
    expect(book.releaseNode('node-a')).toStrictEqual([])
    expect(book.releaseNode('node-a')).toStrictEqual([])
    expect(book.counts()).toStrictEqual(counts(2, 0))
  })

  it(`a job fails with WorkerLostError after maxAttempts (default ${DEFAULT_MAX_ATTEMPTS}), naming where it died`, () => {
    const book = ledger()
    book.submit(1, 11, params(11))
    let failures: RoutedOutcome[] = []
    for (let attempt = 1; attempt <= DEFAULT_MAX_ATTEMPTS; attempt++) {
      expect(failures).toStrictEqual([])
      const job = one(book.lease(`node-${attempt}`, 1))
      expect(job.attempt).toBe(attempt)
      failures = book.releaseNode(`node-${attempt}`)
    }
    expect(failures).toHaveLength(1)
    const [{ poolId, outcome }] = failures as [RoutedOutcome]
    expect(poolId).toBe(1)
    expect(outcome.id).toBe(11)
    expect(outcome.ok).toBe(false)
    if (outcome.ok) return
    expect(outcome.error.name).toBe('WorkerLostError')
    expect(outcome.error.message).toContain('lost 3 times')
    expect(outcome.error.message).toContain('maxAttempts 3')
    for (const node of ['node-1', 'node-2', 'node-3'])
      expect(outcome.error.message).toContain(`${node} (node disconnected)`)
    expect(book.counts()).toStrictEqual(counts(0, 0, 0, 1))
    expect(book.lease('node-4', 1)).toStrictEqual([])
  })

  it('a slot that dies under a job requeues it; too many deaths fail it', () => {
    const book = ledger(2)
    const jobId = book.submit(1, 3, params(3))
    const first = one(book.lease('node-a', 1))
    expect(book.complete('node-a', lost(first, 'out of memory'))).toBeUndefined()
    expect(book.stateOf(jobId)).toBe('queued')
    expect(book.heldBy('node-a')).toBe(0)
    expect(book.counts()).toStrictEqual(counts(1, 0))

    const second = one(book.lease('node-b', 1))
    expect(second.attempt).toBe(2)
    const routed = book.complete('node-b', lost(second, 'SIGSEGV'))
    expect(routed?.outcome.ok).toBe(false)
    if (routed === undefined || routed.outcome.ok) return
    expect(routed.outcome.id).toBe(3)
    expect(routed.outcome.error.name).toBe('WorkerLostError')
    expect(routed.outcome.error.message).toContain('node-a (slot died: out of memory)')
    expect(routed.outcome.error.message).toContain('node-b (slot died: SIGSEGV)')
    expect(book.stateOf(jobId)).toBeUndefined()
    expect(book.counts()).toStrictEqual(counts(0, 0, 0, 1))
  })

  it('a lost job goes back to the front of its queue', () => {
    const book = ledger()
    submitMany(book, 1, 3)
    const first = one(book.lease('node-a', 1))
    book.complete('node-a', lost(first))
    expect(one(book.lease('node-a', 1)).jobId).toBe(first.jobId)
  })

  it('maxAttempts 1 fails a job the first time its worker is lost', () => {
    const book = ledger(1)
    book.submit(1, 0, params(0))
    book.lease('a', 1)
    const [failure] = book.releaseNode('a')
    expect(failure?.outcome.ok).toBe(false)
    // Said in words: "lost once", not "lost 1 times".
    expect(failure?.outcome.ok === false && failure.outcome.error.message).toMatch(
      /^the job's worker was lost once \(maxAttempts 1\)/,
    )
  })

  it('an exception is not a lost worker: it is routed at once', () => {
    const book = ledger(5)
    book.submit(1, 0, params(0))
    const job = one(book.lease('a', 1))
    expect(book.complete('a', threw(job))?.outcome).toMatchObject({ ok: false, error: { name: 'TypeError' } })
  })
})

describe('removePool', () => {
  it('drops queued jobs and returns leased ones, so the caller can cancel them', () => {
    const book = ledger(undefined, [1, 2])
    submitMany(book, 1, 6)
    submitMany(book, 2, 2)
    const jobs = [...book.lease('node-a', 2), ...book.lease('node-b', 2)]
    const ofPool1 = jobs.filter((j) => j.poolId === 1)
    expect(ofPool1).toHaveLength(2)
    expect(book.counts()).toStrictEqual(counts(4, 4))

    const leased = book.removePool(1)
    expect(leased).toHaveLength(2)
    expect(leased).toEqual(
      expect.arrayContaining([
        { jobId: ofPool1[0]?.jobId, nodeId: 'node-a' },
        { jobId: ofPool1[1]?.jobId, nodeId: 'node-b' },
      ]),
    )
    expect(book.queuedCount(1)).toBe(0)
    expect(book.queuedCount()).toBe(0)
    expect(book.counts()).toStrictEqual(counts(0, 2))
    expect(book.heldBy('node-a') + book.heldBy('node-b')).toBe(2)
    for (const job of ofPool1) expect(book.stateOf(job.jobId)).toBeUndefined()
  })

  it('late reports for a removed pool are ignored, and its other jobs are never leased', () => {
    const book = ledger(undefined, [1, 2])
    submitMany(book, 1, 5)
    const job = one(book.lease('node-a', 1))
    book.removePool(1)
    expect(book.complete('node-a', done(job))).toBeUndefined()
    expect(book.releaseNode('node-a')).toStrictEqual([])
    expect(book.lease('node-a', 10)).toStrictEqual([])
    expect(() => book.submit(1, 0, params(0))).toThrow(/not open/)
    expect(book.counts()).toStrictEqual(counts(0, 0))
  })

  it('the other pools go on as before', () => {
    const book = ledger(undefined, [1, 2, 3])
    for (const pool of [1, 2, 3]) submitMany(book, pool, 3)
    expect(one(book.lease('a', 1)).poolId).toBe(1)
    book.removePool(2)
    // Pool 2's turn passes to pool 3; pool 1 has 2 jobs left, pool 3 has 3.
    expect(book.lease('a', 10).map((j) => j.poolId)).toStrictEqual([3, 1, 3, 1, 3])
  })

  it('an unknown pool returns nothing; a removed pool can be opened again', () => {
    const book = ledger()
    expect(book.removePool(42)).toStrictEqual([])
    book.removePool(1)
    book.addPool(1)
    submitMany(book, 1, 1)
    expect(one(book.lease('a', 1)).poolId).toBe(1)
  })
})

describe('counts stay consistent', () => {
  /** A small seeded PRNG (mulberry32). */
  function prng(seed: number): () => number {
    let a = seed >>> 0
    return () => {
      a = (a + 0x6d2b79f5) >>> 0
      let t = a
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
    }
  }

  it('through thousands of random operations, every job is routed exactly once', () => {
    const random = prng(7)
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T
    const maxAttempts = 3
    const book = ledger(maxAttempts, [1, 2, 3])
    const pools = new Set([1, 2, 3])
    const nodes = ['n1', 'n2', 'n3', 'n4']
    /** Client id → times routed, per pool; jobs of removed pools are dropped. */
    const routedTimes = new Map<string, number>()
    const submitted = new Set<string>()
    const dropped = new Set<string>()
    const poolOf = new Map<number, number>()
    const clientIdOf = new Map<number, number>()
    let held: Array<{ node: string; job: LeasedJob }> = []
    let nextClientId = 0
    let routedOk = 0
    let routedFailed = 0

    const route = (r: RoutedOutcome | undefined): void => {
      if (r === undefined) return
      const key = `${r.poolId}:${r.outcome.id}`
      routedTimes.set(key, (routedTimes.get(key) ?? 0) + 1)
      if (r.outcome.ok) routedOk++
      else routedFailed++
    }

    const check = (): void => {
      const c = book.counts()
      const inBook = submitted.size - dropped.size - routedTimes.size
      expect(c.queued + c.leased).toBe(inBook)
      expect(c.queued).toBe([...pools].reduce((sum, p) => sum + book.queuedCount(p), 0))
      expect(c.leased).toBe(nodes.reduce((sum, n) => sum + book.heldBy(n), 0))
      expect(c.done).toBe(routedOk)
      expect(c.failed).toBe(routedFailed)
    }

    for (let step = 0; step < 5000; step++) {
      const op = random()
      if (op < 0.3) {
        const pool = pick([...pools])
        const clientId = nextClientId++
        const jobId = book.submit(pool, clientId, params(clientId % 256))
        submitted.add(`${pool}:${clientId}`)
        poolOf.set(jobId, pool)
        clientIdOf.set(jobId, clientId)
      } else if (op < 0.55) {
        const node = pick(nodes)
        for (const job of book.lease(node, Math.floor(random() * 4))) held.push({ node, job })
      } else if (op < 0.85 && held.length > 0) {
        const i = Math.floor(random() * held.length)
        const { node, job } = held[i] as { node: string; job: LeasedJob }
        held.splice(i, 1)
        const kind = random()
        route(book.complete(node, kind < 0.6 ? done(job) : kind < 0.8 ? threw(job) : lost(job)))
      } else if (op < 0.9 && held.length > 0) {
        // A duplicate, a foreign or a made-up report: always ignored.
        const { node, job } = pick(held)
        const stale = random() < 0.5 ? { ...job, leaseId: job.leaseId + 1000 } : job
        const other = nodes.find((n) => n !== node) as string
        expect(book.complete(random() < 0.5 ? other : node, done(stale === job ? { ...job, jobId: -1 } : stale))).toBe(
          undefined,
        )
      } else if (op < 0.97) {
        const node = pick(nodes)
        for (const r of book.releaseNode(node)) route(r)
        held = held.filter((h) => h.node !== node)
      } else if (pools.size > 1) {
        const pool = pick([...pools])
        const leased = book.removePool(pool)
        pools.delete(pool)
        for (const key of submitted) {
          if (key.startsWith(`${pool}:`) && !routedTimes.has(key)) dropped.add(key)
        }
        const cancelled = new Set(leased.map((l) => l.jobId))
        for (const h of held) if (h.job.poolId === pool) expect(cancelled.has(h.job.jobId)).toBe(true)
        held = held.filter((h) => h.job.poolId !== pool)
        const fresh = Math.max(...pools, 0) + 1
        book.addPool(fresh)
        pools.add(fresh)
      }
      check()
    }

    // Drain: every job left is leased and completed.
    for (;;) {
      for (const { node, job } of held) route(book.complete(node, done(job)))
      held = []
      const batch = book.lease('drain', 64)
      if (batch.length === 0) break
      held = batch.map((job) => ({ node: 'drain', job }))
    }
    check()
    expect(book.counts().queued + book.counts().leased).toBe(0)
    for (const key of submitted) {
      expect(routedTimes.get(key) ?? 0, key).toBe(dropped.has(key) ? 0 : 1)
    }
    expect(routedOk + routedFailed).toBeGreaterThan(500)
  })
})

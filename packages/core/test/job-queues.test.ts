import { describe, expect, it } from 'vitest'
import type { Job } from '../src/ledger/job.js'
import { JobQueues } from '../src/ledger/job-queues.js'
import type { SubmittedJob } from '../src/wire/index.js'

/** mulberry32: a small seeded generator, so a failing sequence can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const small = (n: number): Uint8Array => new Uint8Array([n & 0xff])
/** Over the size that a run copies: such a job keeps an object of its own. */
const big = (): Uint8Array => new Uint8Array(5000)

/** What the queues should hold: per pool, client ids in lease order, and the ids not yet done. */
interface PoolModel {
  queued: number[]
  open: Set<number>
  /** The ledger id each client id got. */
  ids: Map<number, number>
  /** The highest client id queued in a run so far. */
  lastRunId: number
}

describe('JobQueues', () => {
  it('takes pools in turn, each in its own order', () => {
    const queues = new JobQueues()
    queues.addPool(1)
    queues.addPool(2)
    queues.submitMany(
      1,
      [1, 2, 3].map((id) => ({ id, params: small(id) })),
      0,
    )
    queues.submit(2, 7, small(7), 0, 0)
    queues.submit(2, 8, big(), 0, 0)
    const taken = [0, 1, 2, 3, 4].map(() => queues.take(() => true))
    expect(taken.map((job) => job && [job.poolId, job.clientJobId])).toStrictEqual([
      [1, 1],
      [2, 7],
      [1, 2],
      [2, 8],
      [1, 3],
    ])
    expect(queues.take(() => true)).toBeUndefined()
    expect(queues.queuedCount()).toBe(0)
    expect(queues.openCount(1)).toBe(3)
  })

  it('skips the pools canRun refuses, and finds none once a whole turn has none', () => {
    const queues = new JobQueues()
    queues.addPool(1)
    queues.addPool(2)
    queues.submit(1, 1, small(1), 0, 0)
    queues.submit(2, 1, small(1), 0, 0)
    expect(queues.take((poolId) => poolId === 2)?.poolId).toBe(2)
    expect(queues.take((poolId) => poolId === 2)).toBeUndefined()
    expect(queues.queuedCount()).toBe(1)
    expect(queues.queuedCount(1)).toBe(1)
  })

  it('refuses a job of a pool it does not have', () => {
    const queues = new JobQueues()
    expect(() => queues.submit(9, 1, small(1), 0, 0)).toThrow('pool 9 is not open')
    expect(() => queues.submitMany(9, [{ id: 1, params: small(1) }], 0)).toThrow('pool 9 is not open')
    expect(queues.unshift({ poolId: 9 } as Job)).toBe(false)
  })

  for (const seed of [1, 2, 3, 42, 2024]) {
    it(`keeps its counts equal to what its queues hold, after any sequence of changes (seed ${seed})`, () => {
      const random = seeded(seed)
      const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(random() * items.length)]
      const queues = new JobQueues()
      const model = new Map<number, PoolModel>()
      /** Jobs taken and not yet back or done, as the ledger would hold them leased. */
      let leased: Job[] = []
      let nextClientId = 1

      const check = (): void => {
        let total = 0
        for (const [poolId, pool] of model) {
          expect(queues.queuedCount(poolId)).toBe(pool.queued.length)
          expect(queues.openCount(poolId)).toBe(pool.open.size)
          total += pool.queued.length
        }
        expect(queues.queuedCount()).toBe(total)
      }
      /** Ledger ids are given in turn, to new jobs only. */
      let nextJobId = 1
      const submitted = (poolId: number, clientJobId: number): number => {
        const pool = model.get(poolId) as PoolModel
        const known = pool.ids.get(clientJobId)
        if (known !== undefined && pool.open.has(clientJobId)) return known
        pool.ids.set(clientJobId, nextJobId)
        pool.queued.push(clientJobId)
        pool.open.add(clientJobId)
        return nextJobId++
      }
      const leaves = (poolId: number, clientJobId: number): void => {
        const pool = model.get(poolId)
        if (pool === undefined) return
        pool.open.delete(clientJobId)
        pool.queued = pool.queued.filter((id) => id !== clientJobId)
      }

      const steps: Record<string, () => void> = {
        addPool: () => {
          const poolId = 1 + Math.floor(random() * 4)
          queues.addPool(poolId)
          if (!model.has(poolId))
            model.set(poolId, { queued: [], open: new Set(), ids: new Map(), lastRunId: Number.NEGATIVE_INFINITY })
        },
        removePool: () => {
          const poolId = pick([...model.keys()])
          if (poolId === undefined) return
          // As the ledger does: the pool's jobs with objects leave first, then the pool.
          const jobs = queues.jobsOf(poolId)
          queues.remove(
            poolId,
            jobs.filter((job) => job.state === 'queued'),
          )
          for (const job of jobs) queues.forget(job)
          queues.removePool(poolId)
          leased = leased.filter((job) => job.poolId !== poolId)
          model.delete(poolId)
        },
        submit: () => {
          const poolId = pick([...model.keys()])
          if (poolId === undefined) return
          // Now and then a client id the pool has had, which keeps its job.
          const again = random() < 0.2 ? pick([...(model.get(poolId) as PoolModel).open]) : undefined
          const clientJobId = again ?? nextClientId++
          const params = random() < 0.3 ? big() : small(clientJobId)
          expect(queues.submit(poolId, clientJobId, params, 0, 0)).toBe(submitted(poolId, clientJobId))
        },
        submitMany: () => {
          const poolId = pick([...model.keys()])
          if (poolId === undefined) return
          const pool = model.get(poolId) as PoolModel
          // Repeats only of ids a run has passed: they take the checked path (an honest client sends none).
          const repeats = [...pool.open].filter((id) => id <= pool.lastRunId)
          const jobs: SubmittedJob[] = []
          for (let n = Math.floor(random() * 6); n > 0; n--) {
            const id = (random() < 0.15 ? pick(repeats) : undefined) ?? nextClientId++
            jobs.push({ id, params: random() < 0.2 ? big() : small(id) })
          }
          queues.submitMany(poolId, jobs, 0)
          // Small jobs with rising ids are queued first, as one run; the others follow one by one.
          const inRun = jobs.filter((job) => {
            if (job.id <= pool.lastRunId || job.params.byteLength > 4096) return false
            pool.lastRunId = job.id
            return true
          })
          for (const job of inRun) submitted(poolId, job.id)
          for (const job of jobs) if (!inRun.includes(job)) submitted(poolId, job.id)
        },
        take: () => {
          const allowed = new Set([...model.keys()].filter(() => random() < 0.7))
          const job = queues.take((poolId) => allowed.has(poolId))
          if (job === undefined) {
            for (const poolId of allowed) expect(model.get(poolId)?.queued.length).toBe(0)
            return
          }
          expect(allowed.has(job.poolId)).toBe(true)
          const pool = model.get(job.poolId) as PoolModel
          expect(job.clientJobId).toBe(pool.queued[0])
          expect(job.jobId).toBe(pool.ids.get(job.clientJobId))
          expect(queues.get(job.jobId)).toBe(job)
          pool.queued.shift()
          job.state = 'leased'
          leased.push(job)
        },
        giveBack: () => {
          const job = pick(leased)
          if (job === undefined) return
          leased = leased.filter((j) => j !== job)
          job.state = 'queued'
          expect(queues.unshift(job)).toBe(true)
          model.get(job.poolId)?.queued.unshift(job.clientJobId)
        },
        finish: () => {
          const job = pick(leased)
          if (job === undefined) return
          leased = leased.filter((j) => j !== job)
          job.state = 'done'
          queues.forget(job)
          expect(queues.get(job.jobId)).toBeUndefined()
          leaves(job.poolId, job.clientJobId)
        },
        cancel: () => {
          const poolId = pick([...model.keys()])
          const clientJobId = poolId === undefined ? undefined : pick([...(model.get(poolId) as PoolModel).open])
          if (poolId === undefined || clientJobId === undefined) return
          const job = queues.jobOf(poolId, clientJobId)
          if (job === undefined) expect(queues.cancelInRun(poolId, clientJobId)).toBe(true)
          else {
            if (job.state === 'queued') queues.remove(poolId, [job])
            leased = leased.filter((j) => j !== job)
            job.state = 'failed'
            queues.forget(job)
          }
          leaves(poolId, clientJobId)
        },
        takeAll: () => {
          const poolId = pick([...model.keys()])
          if (poolId === undefined) return
          const pool = model.get(poolId) as PoolModel
          const { fromRuns, jobs } = queues.takeAll(poolId)
          const taken = [...fromRuns, ...jobs.map((job) => job.clientJobId)]
          expect(taken.sort((a, b) => a - b)).toStrictEqual([...pool.queued].sort((a, b) => a - b))
          for (const job of jobs) queues.forget(job)
          for (const id of pool.queued) pool.open.delete(id)
          pool.queued = []
        },
      }
      const names = Object.keys(steps)
      for (let step = 0; step < 3000; step++) {
        ;(steps[pick(names) as string] as () => void)()
        check()
      }
      // Drained at the end, every pool gives its jobs in the order the model has them.
      for (let job = queues.take(() => true); job !== undefined; job = queues.take(() => true)) {
        const pool = model.get(job.poolId) as PoolModel
        expect(job.clientJobId).toBe(pool.queued.shift())
      }
      for (const pool of model.values()) expect(pool.queued).toStrictEqual([])
      expect(queues.queuedCount()).toBe(0)
    })
  }
})

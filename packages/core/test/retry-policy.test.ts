import { describe, expect, it } from 'vitest'
import { type Job, newJob, type PoolSettings } from '../src/ledger/job.js'
import { MAX_RETRY_BACKOFF_MS, RETRY_BACKOFF_MS, RetryPolicy } from '../src/ledger/retry-policy.js'

const job = (jobId: number, poolId = 1): Job => newJob(poolId, jobId, jobId, new Uint8Array(), 0, 0)
const settings = (retries: number): PoolSettings => ({ maxAttempts: 3, retries, leaseMs: 1000 })
const thrown = { name: 'Error', message: 'boom' }

describe('RetryPolicy', () => {
  it('retries a job that threw while the pool allows, each wait twice the last, up to the cap', () => {
    const retries = new RetryPolicy()
    const a = job(1)
    const waits: number[] = []
    for (let i = 0; i < 9; i++) {
      expect(retries.afterFailure(a, thrown, settings(9), 0)).toBe(true)
      waits.push(a.notBefore)
    }
    expect(waits.slice(0, 3)).toStrictEqual([RETRY_BACKOFF_MS, 2 * RETRY_BACKOFF_MS, 4 * RETRY_BACKOFF_MS])
    expect(waits.at(-1)).toBe(MAX_RETRY_BACKOFF_MS)
    expect([a.state, a.failures]).toStrictEqual(['waiting', 9])
    expect(retries.afterFailure(a, thrown, settings(9), 0)).toBe(false)
    expect(a.failures).toBe(9)
  })

  it('never retries an abort, nor a pool without retries', () => {
    const retries = new RetryPolicy()
    const a = job(1)
    expect(retries.afterFailure(a, { name: 'AbortError', message: 'stop' }, settings(3), 0)).toBe(false)
    expect(retries.afterFailure(a, thrown, settings(0), 0)).toBe(false)
    expect([a.state, a.failures, retries.waiting]).toStrictEqual(['queued', 0, 0])
  })

  it('gives back the jobs whose wait is over, newest first, and keeps the others', () => {
    const retries = new RetryPolicy()
    const [a, b, c] = [job(1), job(2), job(3)]
    retries.afterFailure(a, thrown, settings(1), 0)
    retries.afterFailure(b, thrown, settings(1), 0)
    retries.afterFailure(c, thrown, settings(1), 50)
    expect(retries.due(RETRY_BACKOFF_MS - 1)).toStrictEqual([])
    expect(retries.due(RETRY_BACKOFF_MS).map((j) => j.jobId)).toStrictEqual([2, 1])
    expect(retries.waiting).toBe(1)
    expect(retries.due(RETRY_BACKOFF_MS + 50)).toStrictEqual([c])
  })

  it('takes out one waiting job, or every one of a pool', () => {
    const retries = new RetryPolicy()
    const [a, b, c] = [job(1, 1), job(2, 2), job(3, 1)]
    for (const j of [a, b, c]) retries.afterFailure(j, thrown, settings(1), 0)
    retries.remove(b)
    expect(retries.waiting).toBe(2)
    expect(retries.removePool(1)).toStrictEqual([a, c])
    expect(retries.waiting).toBe(0)
  })

  it('lets a lost job run again until its attempts are used up, then names every loss', () => {
    const retries = new RetryPolicy()
    const a = job(1)
    a.attempt = 1
    expect(retries.afterLoss(a, 'n1 (slot died: x)', 2)).toBeUndefined()
    a.attempt = 2
    const error = retries.afterLoss(a, 'n2 (node disconnected)', 2)
    expect(error?.name).toBe('WorkerLostError')
    expect(error?.message).toBe(
      "the job's worker was lost 2 times (maxAttempts 2): n1 (slot died: x); n2 (node disconnected)",
    )
    const b = job(2)
    b.attempt = 1
    expect(retries.afterLoss(b, 'n1 (lease expired)', 1)?.message).toBe(
      "the job's worker was lost once (maxAttempts 1): n1 (lease expired)",
    )
  })
})

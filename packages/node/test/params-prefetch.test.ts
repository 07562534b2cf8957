import { type BlobRef, encodeBlobRef, type LeasedJob } from '@meshpool/core'
import { describe, expect, it } from 'vitest'
import { ParamsPrefetch } from '../src/node/params-prefetch.js'
import { job as leased } from './fake-slot.js'

const blob: BlobRef = { hash: 'd'.repeat(64), bytes: 100 * 1024 * 1024 }
const job = (jobId: number): LeasedJob => leased(jobId, { params: encodeBlobRef(blob) })

function prefetch(ahead: number) {
  const asked: Array<{
    jobId: number
    resolve: (b: Uint8Array) => void
    reject: (e: Error) => void
    signal: AbortSignal
  }> = []
  const ready: LeasedJob[] = []
  const failed: string[] = []
  let jobId = 0
  const fetcher = new ParamsPrefetch({
    fetch: (_blob, _pool, _client, signal) =>
      new Promise((resolve, reject) => asked.push({ jobId: ++jobId, resolve, reject, signal })),
    clientOf: () => undefined,
    ahead: () => ahead,
    ready: (j) => ready.push(j),
    failed: (_j, error) => failed.push(error.message),
  })
  return { fetcher, asked, ready, failed }
}

describe("a node's prefetch of big params", () => {
  it('holds at most `ahead` jobs of params, fetched or on their way, however many jobs are leased', async () => {
    const { fetcher, asked, ready } = prefetch(3)
    for (let i = 1; i <= 10; i++) fetcher.add(job(i), blob)
    fetcher.start([])
    expect(asked).toHaveLength(3)
    asked[0]?.resolve(new Uint8Array(4))
    await Promise.resolve()
    expect(ready.map((j) => j.jobId)).toEqual([1])
    // Job 1 waits in the queue: still three held.
    fetcher.start(ready)
    expect(asked).toHaveLength(3)
    // A slot took it: one more starts.
    fetcher.start([])
    expect(asked).toHaveLength(4)
    expect(fetcher.size).toBe(9)
  })

  it('aborts the fetches of dropped jobs and forgets those not started; a failed fetch says why', async () => {
    const { fetcher, asked, failed } = prefetch(2)
    for (let i = 1; i <= 4; i++) fetcher.add(job(i), blob)
    fetcher.start([])
    expect(fetcher.drop((j) => j.jobId === 1 || j.jobId === 4).sort()).toEqual([1, 4])
    expect(asked[0]?.signal.aborted).toBe(true)
    asked[1]?.reject(new Error('the client went away'))
    await Promise.resolve()
    await Promise.resolve()
    expect(failed).toEqual([`its params (${blob.bytes} bytes) could not be fetched: the client went away`])
  })
})

import { createPool, type Pool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { joinNode, type Out, PASSWORD, startHead, stopAll, WORKER, waitFor } from './harness.js'

afterEach(stopAll)

const JOB_MS = 100
const jobs = (n: number) => Array.from({ length: n }, (_, x) => ({ x, delayMs: JOB_MS }))

/** Runs `n` jobs on the pool, keeping each result as it comes. */
function collect(pool: Pool, n: number, into: Out[]): Promise<void> {
  return (async () => {
    for await (const result of pool.imapUnordered(jobs(n))) into.push(result as Out)
  })()
}

describe('fair shares among pools on a real mesh', () => {
  it("six pools on two slots: every pool's first job starts within a few job lengths", async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 2)
    const pools = await Promise.all(
      Array.from({ length: 6 }, () => createPool({ worker: WORKER, head: head.address, password: PASSWORD })),
    )
    try {
      const results = pools.map((): Out[] => [])
      const submittedAt = Date.now()
      // Each pool alone would hold a slot for 2 s: without turns, the last two would wait 4 s.
      const runs = pools.map((pool, i) => collect(pool, 20, results[i] as Out[]))
      await waitFor(
        () => results.every((r) => r.length > 0),
        20 * JOB_MS * 6,
        "every pool's first result",
        () => results.map((r, i) => `pool ${i}: ${r.length} results`).join('\n'),
      )
      const firstStarts = results.map((r) => Math.min(...r.map((out) => out.startedAt)) - submittedAt)
      console.log(`first job of each of 6 pools on 2 slots started after ${firstStarts.join(', ')} ms`)
      // Three rounds of two slots, a job or two each, and a worker load per switch on a busy machine.
      expect(Math.max(...firstStarts)).toBeLessThan(15 * JOB_MS)
      await Promise.all(runs)
      expect(results.map((r) => r.length)).toEqual([20, 20, 20, 20, 20, 20])
    } finally {
      await Promise.all(pools.map((pool) => pool.close()))
    }
  })

  it('a pool of priority 1 completes about twice the jobs of one of priority 0 over the same time', async () => {
    const head = await startHead({ noWork: true })
    // Two nodes of one slot: a node's share is its one slot, so the head's turns are the slots' turns.
    await Promise.all([joinNode(head.address, 1), joinNode(head.address, 1)])
    await using high = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, priority: 1 })
    await using low = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
    const ofHigh: Out[] = []
    const ofLow: Out[] = []
    // Shares of 4/3 and 2/3 slots: the priority 1 pool would finish its 90 jobs in about 7 s.
    await Promise.all([collect(high, 90, ofHigh), collect(low, 90, ofLow)])
    const both = Math.min(...ofHigh.map((r) => r.startedAt), ...ofLow.map((r) => r.startedAt))
    const until = Math.max(...ofHigh.map((r) => r.startedAt))
    const startedIn = (outs: Out[]) => outs.filter((r) => r.startedAt >= both && r.startedAt < until).length
    const ratio = startedIn(ofHigh) / startedIn(ofLow)
    console.log(
      `priority 1 vs 0 on 2 slots: ${startedIn(ofHigh)} vs ${startedIn(ofLow)} jobs started (${ratio.toFixed(2)}×)`,
    )
    expect(ratio).toBeGreaterThan(1.5)
    expect(ratio).toBeLessThan(3)
  })

  it('refuses a priority out of range, naming the option and what it takes', async () => {
    await expect(
      createPool({ worker: WORKER, head: '/ip4/127.0.0.1/tcp/1/p2p/x', password: PASSWORD, priority: 11 }),
    ).rejects.toThrow(/options\.priority must be a number from -10 to 10 .*got 11/)
  })
})

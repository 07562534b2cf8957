import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { joinNode, type Out, PASSWORD, startHead, stopAll, WORKER } from './harness.js'

afterEach(stopAll)

describe('a head, two joined nodes and a client', () => {
  it('maps 2,000 jobs in input order on both nodes, streams 10,000 lazy inputs, and counts workers', async () => {
    const head = await startHead({ noWork: true })
    const [a, b] = await Promise.all([joinNode(head.address, 2), joinNode(head.address, 2)])
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
    expect(await pool.workersCount()).toBe(4)
    expect(await pool.nodesCount()).toBe(2)

    const inputs = Array.from({ length: 2000 }, (_, x) => ({ x }))
    const results = (await pool.map(inputs)) as Out[]
    expect(results).toHaveLength(2000)
    results.forEach((r, i) => {
      expect(r.x).toBe(i)
      expect(r.y).toBe(2 * i)
    })
    const byNode = new Set(results.map((r) => r.node))
    expect(byNode).toEqual(new Set([a.peerId, b.peerId]))

    let pulled = 0
    let consumed = 0
    let mostAhead = 0
    function* lazy(): Generator<{ x: number }> {
      for (let x = 0; x < 10_000; x++) {
        pulled++
        yield { x }
      }
    }
    const seen = new Set<number>()
    for await (const r of pool.imapUnordered(lazy(), { window: 256 })) {
      mostAhead = Math.max(mostAhead, pulled - consumed++)
      seen.add((r as Out).x)
    }
    expect(seen.size).toBe(10_000)
    // The input is read lazily: never more than the window (plus the one being read) ahead of the caller.
    expect(mostAhead).toBeLessThanOrEqual(257)
  })

  it('sends more than 65,536 jobs in flight at once (split across frames)', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 1)
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
    const results = (await pool.map(
      Array.from({ length: 70_000 }, (_, x) => ({ x })),
      { window: 70_000 },
    )) as Out[]
    expect(results).toHaveLength(70_000)
    expect(results[69_999]?.y).toBe(139_998)
  })

  it('shares short jobs between nodes that learnt to take many at once', async () => {
    const head = await startHead({ noWork: true })
    const [a, b] = await Promise.all([joinNode(head.address, 1), joinNode(head.address, 1)])
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
    await pool.map(Array.from({ length: 5000 }, (_, x) => ({ x })))
    const results = (await pool.map(Array.from({ length: 100 }, (_, x) => ({ x, delayMs: 10 })))) as Out[]
    const onA = results.filter((r) => r.node === a.peerId).length
    const onB = results.filter((r) => r.node === b.peerId).length
    expect(onA + onB).toBe(100)
    expect(Math.min(onA, onB)).toBeGreaterThanOrEqual(30)
  })

  it('gives work to a node that joins in the middle of a map', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 1)
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
    const inputs = Array.from({ length: 300 }, (_, x) => ({ x, delayMs: 15 }))
    const results: Out[] = []
    let late: Awaited<ReturnType<typeof joinNode>> | undefined
    for await (const r of pool.imapUnordered(inputs)) {
      results.push(r as Out)
      if (results.length === 20) late = await joinNode(head.address, 1)
    }
    expect(results.map((r) => r.x).sort((p, q) => p - q)).toEqual(inputs.map((i) => i.x))
    // It joined after the 20th result, and from then on took jobs.
    expect(results.findIndex((r) => r.node === late?.peerId)).toBeGreaterThanOrEqual(20)
    expect(results.filter((r) => r.node === late?.peerId).length).toBeGreaterThan(0)
  })

  it('reruns the jobs of a node killed with SIGKILL and returns every result once', async () => {
    const head = await startHead({ noWork: true })
    const [a, b] = await Promise.all([joinNode(head.address, 2), joinNode(head.address, 2)])
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
    const inputs = Array.from({ length: 400 }, (_, x) => ({ x, delayMs: 10 }))
    const results: Out[] = []
    for await (const r of pool.imapUnordered(inputs)) {
      results.push(r as Out)
      if (results.length === 50) a.child.kill('SIGKILL')
    }
    expect(await a.exited).toBe('SIGKILL')
    const xs = results.map((r) => r.x).sort((p, q) => p - q)
    expect(xs).toEqual(inputs.map((i) => i.x))
    const after = results.slice(80)
    expect(after.every((r) => r.node === b.peerId)).toBe(true)
    expect(results.some((r) => r.attempt === 2)).toBe(true)
  })
})

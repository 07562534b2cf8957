import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { joinNode, PASSWORD, startHead, stopAll } from './harness.js'

afterEach(stopAll)

interface Ran {
  name: string
  node: string
  instance: string
  at: number
}

const NAMED = new URL('./fixtures/named-worker.js', import.meta.url)
const CHATTY = new URL('./fixtures/chatty-worker.js', import.meta.url)

describe('many pools on one mesh', () => {
  it('two clients with different workers share the slots fairly, and slots keep their workers', async () => {
    const head = await startHead({ noWork: true })
    await Promise.all([joinNode(head.address, 1), joinNode(head.address, 1)])
    await using a = await createPool({ worker: NAMED, init: { name: 'a' }, head: head.address, password: PASSWORD })
    await using b = await createPool({ worker: NAMED, init: { name: 'b' }, head: head.address, password: PASSWORD })
    const jobs = Array.from({ length: 40 }, () => ({ delayMs: 25 }))
    const [ranA, ranB] = (await Promise.all([a.map(jobs), b.map(jobs)])) as [Ran[], Ran[]]
    // Fair: neither waited for the other; they finished close together (each alone would take 40 × 25 ms = 1 s).
    const endA = Math.max(...ranA.map((r) => r.at))
    const endB = Math.max(...ranB.map((r) => r.at))
    const startB = Math.min(...ranB.map((r) => r.at))
    expect(startB).toBeLessThan(Math.min(endA, endB))
    const doneByFirstEnd = (ran: Ran[]) => ran.filter((r) => r.at <= Math.min(endA, endB)).length
    expect(Math.min(doneByFirstEnd(ranA), doneByFirstEnd(ranB))).toBeGreaterThanOrEqual(20)
    // Sticky: a worker instance is built once per slot it runs on, not once per switch between pools.
    expect(new Set(ranA.map((r) => r.instance)).size).toBeLessThanOrEqual(2)
    expect(new Set(ranB.map((r) => r.instance)).size).toBeLessThanOrEqual(2)
  })

  it('a third client with another worker module runs beside them', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 2)
    await using a = await createPool({ worker: NAMED, init: { name: 'a' }, head: head.address, password: PASSWORD })
    await using c = await createPool({ worker: CHATTY, head: head.address, password: PASSWORD, output: 'ignore' })
    const [ranA, ranC] = await Promise.all([
      a.map(Array.from({ length: 20 }, () => ({ delayMs: 20 }))),
      c.map(Array.from({ length: 20 }, (_, x) => ({ x }))),
    ])
    expect((ranA as Ran[]).every((r) => r.name === 'a')).toBe(true)
    expect(ranC).toEqual(Array.from({ length: 20 }, (_, x) => x))
  })
})

import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { joinNode, PASSWORD, startHead, stopAll, WORKER } from './harness.js'

afterEach(stopAll)

describe('updateWorkers over the mesh', () => {
  it('reaches every slot of every node in order, jobs submitted after an update see it, and 1,000 sent during a map each apply once', async () => {
    const head = await startHead({ noWork: true })
    const [a, b] = await Promise.all([joinNode(head.address, 2), joinNode(head.address, 2)])
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    const sent: unknown[] = []
    const slotsSeen = new Set<string>()
    for (let i = 1; i <= 20; i++) {
      const update = { i, best: new Map([['score', i / 10]]) }
      expect(await pool.updateWorkers(update)).toBe(i)
      sent.push(update)
      const results = (await pool.map(Array.from({ length: 16 }, (_, x) => ({ x, delayMs: 2 })))) as Array<{
        node: string
        slot: number
        updates: unknown[]
      }>
      for (const r of results) {
        expect(r.updates).toEqual(sent)
        slotsSeen.add(`${r.node}#${r.slot}`)
      }
    }
    expect([...slotsSeen].filter((s) => s.startsWith(a.peerId)).length).toBe(2)
    expect([...slotsSeen].filter((s) => s.startsWith(b.peerId)).length).toBe(2)

    // Then 1,000 more, all at once while a map runs: every slot applies each once, in order.
    const running = pool.map(Array.from({ length: 400 }, (_, x) => ({ x, delayMs: 5 })))
    const burst = await Promise.all(Array.from({ length: 1000 }, (_, i) => pool.updateWorkers({ i: 21 + i })))
    expect(burst).toEqual(Array.from({ length: 1000 }, (_, i) => 21 + i))
    await running
    // Then every slot reports all it applied: jobs long enough that all four slots take one.
    const results = (await pool.map(Array.from({ length: 8 }, (_, x) => ({ x, delayMs: 200 })))) as Array<{
      node: string
      slot: number
      updates: unknown[]
    }>
    expect(new Set(results.map((r) => `${r.node}#${r.slot}`)).size).toBe(4)
    const expected = [...sent, ...burst.map((i) => ({ i }))]
    for (const r of results) expect(r.updates).toEqual(expected)
  })
})

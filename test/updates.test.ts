import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { joinNode, PASSWORD, startHead, stopAll, WORKER } from './harness.js'

afterEach(stopAll)

describe('updateWorkers over the mesh', () => {
  it('reaches every slot of every node in order, and jobs submitted after an update see it', async () => {
    const head = await startHead({ noWork: true })
    const [a, b] = await Promise.all([joinNode(head.address, 2), joinNode(head.address, 2)])
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
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
  })
})

import { join } from 'node:path'
import { createPool, joinHead, startHead as startHeadHere } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { joinNode, PASSWORD, startHead, stopAll, tempDir, WORKER } from './harness.js'
import { quietPool } from './quiet-pool.js'

afterEach(stopAll)

interface Seen {
  node: string
  slot: number
  updates: Array<{ i: number }>
  missedUpdates: number
}

describe('update catch-up', () => {
  it('a node that joins after 500 updates has applied all 500, in order, before its first job', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 1)
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    for (let i = 1; i <= 500; i++) await pool.updateWorkers({ i })
    const late = await joinNode(head.address, 1)
    const results = (await pool.map(Array.from({ length: 40 }, (_, x) => ({ x, delayMs: 10 })))) as Seen[]
    const onLate = results.filter((r) => r.node === late.peerId)
    expect(onLate.length).toBeGreaterThan(0)
    const expected = Array.from({ length: 500 }, (_, i) => ({ i: i + 1 }))
    for (const r of results) expect(r.updates).toEqual(expected)
  })

  it('a 20 MiB update reaches every slot intact', async () => {
    const head = await startHead({ noWork: true })
    await Promise.all([joinNode(head.address, 1), joinNode(head.address, 1)])
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    const big = new Uint8Array(20 * 1024 * 1024)
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) % 251
    await pool.updateWorkers({ i: 1, big })
    // Each result carries the slot's updates back (the fixture's way of saying what it saw): keep them few.
    const results = (await pool.map(Array.from({ length: 4 }, (_, x) => ({ x, delayMs: 150 })))) as Array<{
      node: string
      updates: Array<{ i: number; big: Uint8Array }>
    }>
    expect(new Set(results.map((r) => r.node)).size).toBe(2)
    for (const r of results) {
      expect(r.updates).toHaveLength(1)
      expect(Buffer.from(r.updates[0]?.big ?? []).equals(Buffer.from(big))).toBe(true)
    }
  })
})

describe('past the update log budget', () => {
  it('a node that joins late gets what the log still holds, and its worker is told how many it missed', async () => {
    const head = await startHeadHere({
      password: PASSWORD,
      host: '127.0.0.1',
      port: 0,
      keyFile: join(tempDir(), 'head.key'),
      slots: 0,
      updateLogBytes: 200, // a few dozen of the small updates below: the first ones drop out
    })
    const nodes = []
    try {
      const address = head.addresses[0] as string
      nodes.push(await joinHead({ head: address, password: PASSWORD, slots: 1, name: 'early', stateDir: tempDir() }))
      await using pool = await createPool({ worker: WORKER, head: address, password: PASSWORD, output: 'ignore' })
      await pool.submit({ x: 0 }) // the early node has the pool: it hears every update on gossip
      for (let i = 1; i <= 50; i++) await pool.updateWorkers({ i })
      const late = await joinHead({ head: address, password: PASSWORD, slots: 1, name: 'late', stateDir: tempDir() })
      nodes.push(late)
      const results = (await pool.map(Array.from({ length: 8 }, (_, x) => ({ x, delayMs: 100 })))) as Seen[]
      const all = Array.from({ length: 50 }, (_, i) => ({ i: i + 1 }))
      const onLate = results.filter((r) => r.node === late.peerId)
      const onEarly = results.filter((r) => r.node !== late.peerId)
      expect(onLate.length).toBeGreaterThan(0)
      expect(onEarly.length).toBeGreaterThan(0)
      for (const r of onEarly) expect(r).toMatchObject({ updates: all, missedUpdates: 0 })
      for (const r of onLate) {
        expect(r.missedUpdates).toBeGreaterThan(0)
        expect(r.updates).toEqual(all.slice(r.missedUpdates)) // the rest, in order, none twice
      }
    } finally {
      await Promise.all(nodes.map((node) => node.stop()))
      await head.stop()
    }
  })
})

describe('gossip on one host', () => {
  it('reaches 16 nodes behind one IP address at once (no penalty for sharing an address)', async () => {
    const head = await startHead({ noWork: true })
    const nodes = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        joinHead({ head: head.address, password: PASSWORD, slots: 1, name: `n${i}`, stateDir: tempDir() }),
      ),
    )
    try {
      const { pool, appliedBy } = await quietPool(head.address, 16)
      await using _ = pool
      await pool.updateWorkers({ i: 1 })
      expect(await appliedBy(16)).toBe(16)
    } finally {
      await Promise.all(nodes.map((node) => node.stop()))
    }
  })
})

describe('updates too big for gossip', () => {
  it('are announced, and idle nodes fetch them from the head at once', async () => {
    const head = await startHead({ noWork: true })
    await Promise.all([joinNode(head.address, 1), joinNode(head.address, 1)])
    const { pool, appliedBy } = await quietPool(head.address, 2)
    await using _ = pool
    await pool.updateWorkers({ big: new Uint8Array(5 * 1024 * 1024).fill(7) })
    expect(await appliedBy(2)).toBe(2)
  })
})

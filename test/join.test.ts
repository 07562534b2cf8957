import { createPool, joinHead } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { joinNode, PASSWORD, startHead, stopAll, WORKER, waitFor } from './harness.js'

afterEach(stopAll)

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('nodes joining and leaving', () => {
  it('lets 30 nodes join one head in the same second', async () => {
    const head = await startHead({ noWork: true })
    const nodes = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        joinHead({ head: head.address, password: PASSWORD, slots: 1, name: `n${i}` }),
      ),
    )
    try {
      await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
      // All 30 were welcomed. On a loaded machine a connection may drop and come back by itself:
      // wait (with a deadline) until all 30 are in the mesh, and say if any had to rejoin.
      const first = await pool.nodesCount()
      let count = first
      await waitFor(
        async () => {
          count = await pool.nodesCount()
          return count >= 30
        },
        30_000,
        'all 30 nodes in the mesh',
        () => head.output(),
      )
      if (first < 30) console.log(`${30 - first} node(s) rejoined after the first count:\n${head.output()}`)
      expect(count).toBe(30)
      expect(await pool.workersCount()).toBe(30)
      const results = (await pool.map(Array.from({ length: 300 }, (_, x) => ({ x, delayMs: 20 })))) as Array<{
        node: string
      }>
      expect(new Set(results.map((r) => r.node)).size).toBeGreaterThan(15)
    } finally {
      await Promise.all(nodes.map((node) => node.stop()))
    }
  })

  it('stops a node cleanly on SIGTERM: exit 0, slots gone, the head notices at once', async () => {
    const head = await startHead({ noWork: true })
    const node = await joinNode(head.address, 2)
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
    const results = (await pool.map([{ x: 1 }, { x: 2 }, { x: 3 }, { x: 4 }])) as Array<{ pid: number }>
    const pids = [...new Set(results.map((r) => r.pid))]
    node.child.kill('SIGTERM')
    expect(await node.exited).toBe(0)
    expect(node.output()).toMatch(/leaving the mesh/)
    expect(pids.filter(alive)).toEqual([])
    expect(await pool.nodesCount()).toBe(0)
    await head.waitForLine(new RegExp(`\\(${node.peerId}\\) left`))
    expect(head.output()).toMatch(new RegExp(`\\(${node.peerId}\\) joined with 2 slots`))
  })
})

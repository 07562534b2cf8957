import { createPool, type NodeInfo } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { joinNode, meshpool, PASSWORD, startHead, stopAll, WORKER, waitFor } from './harness.js'

afterEach(stopAll)

describe('meshpool status', () => {
  it('shows every node with its slots and counts while a map runs; --json parses', async () => {
    const head = await startHead({ noWork: true })
    const [a, b] = [await joinNode(head.address, 2), await joinNode(head.address, 1)]
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    const running = pool.map(Array.from({ length: 60 }, (_, x) => ({ x, delayMs: 150 })))
    // Heartbeats carry the slots' states: ask until one shows a busy slot.
    let status: { nodes: NodeInfo[]; queued: number; leased: number } = { nodes: [], queued: 0, leased: 0 }
    const busy = (): boolean => status.nodes.some((n) => n.slots.some((s) => s.state === 'busy'))
    const deadline = Date.now() + 20_000
    while (!busy() && Date.now() < deadline) {
      const proc = meshpool(['status', head.address, '--json'])
      expect(await proc.exited).toBe(0)
      status = JSON.parse(proc.output())
    }
    expect(busy(), JSON.stringify(status)).toBe(true)
    expect(status.nodes.map((n) => n.nodeId).sort()).toEqual([a?.peerId, b?.peerId].sort())
    expect(status.nodes.find((n) => n.nodeId === a?.peerId)?.slots).toHaveLength(2)
    expect(status.queued + status.leased).toBeGreaterThan(0)
    expect(Date.now() - Math.min(...status.nodes.map((n) => n.lastHeartbeat))).toBeLessThan(10_000)

    const table = meshpool(['status', head.address])
    expect(await table.exited).toBe(0)
    expect(table.output()).toMatch(/^2 node\(s\), 3 slot\(s\) \(\d busy\); jobs: \d+ queued, \d+ running$/m)
    expect(table.output()).toMatch(/NODE\s+NAME\s+SLOTS\s+DONE\s+FAILED\s+HEARTBEAT\s+ADDRESS/)
    for (const node of [a, b]) expect(table.output()).toContain(node?.peerId)
    await running
    const after = await pool.listWorkers()
    expect(after.reduce((n, node) => n + node.done, 0)).toBeGreaterThanOrEqual(60)
    expect(after.every((node) => node.launched === false)).toBe(true)
  })
})

describe('stopping a node', () => {
  it('stopWorkers(id) lets it finish its running jobs and leave while a map runs; the map completes', async () => {
    const head = await startHead({ noWork: true })
    const [a, b] = [await joinNode(head.address, 1), await joinNode(head.address, 1)]
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    const running = pool.map(Array.from({ length: 40 }, (_, x) => ({ x, delayMs: 50 })))
    await waitFor(() => (a?.output() ?? '').length > 0, 5000, 'node a')
    expect(await pool.stopWorkers(a?.peerId as string)).toEqual([a?.peerId])
    expect(await a?.exited).toBe(0)
    expect(a?.output()).toMatch(/the head asked this node to stop: left the mesh/)
    const results = (await running) as Array<{ y: number }>
    expect(results.map((r) => r.y)).toEqual(Array.from({ length: 40 }, (_, x) => x * 2))
    expect((await pool.listWorkers()).map((n) => n.nodeId)).toEqual([b?.peerId])

    const cli = meshpool(['stop', head.address, b?.peerId as string, a?.peerId as string])
    expect(await cli.exited).toBe(1)
    expect(cli.output()).toContain(`stopping ${b?.peerId}`)
    expect(cli.output()).toContain(`${a?.peerId} is not a node of this mesh`)
    expect(await b?.exited).toBe(0)
  })
})

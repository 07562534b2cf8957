import { describe, expect, it } from 'vitest'
import { MAX_WANTED_PER_SLOT } from '../src/head/dispatcher.js'
import { jobs, mesh } from './head-mesh.js'

describe("the head's dispatcher", () => {
  it('shares the slots fairly between pools that both have jobs queued', () => {
    const { dispatcher, join, open } = mesh()
    const a = join('a', 2)
    const b = join('b', 2)
    const first = open('first.js')
    const second = open('second.js')
    dispatcher.submit(first.pool, jobs(1, 10))
    dispatcher.submit(second.pool, jobs(1, 10))
    dispatcher.pull(a.node, 2)
    dispatcher.pull(b.node, 2)
    // Four slots, two pools: two slots each, though node a asked first and could have taken either.
    expect(a.leased().map((j) => j.poolId)).toEqual([first.pool.spec.poolId, first.pool.spec.poolId])
    expect(b.leased().map((j) => j.poolId)).toEqual([second.pool.spec.poolId, second.pool.spec.poolId])
    // Each node is sent a pool's spec before its first lease of that pool.
    expect(a.channel.sent.map((m) => m.type)).toEqual(['welcome', 'peers', 'pool', 'lease'])
    expect(a.channel.of('pool').map((m) => m.pool.worker)).toEqual(['first.js'])
  })

  it('leases a node no more than its slots may hold, however much it asks for', () => {
    const { dispatcher, join, open } = mesh()
    const a = join('a', 1)
    const client = open('w.js')
    dispatcher.submit(client.pool, jobs(1, 2 * MAX_WANTED_PER_SLOT))
    dispatcher.pull(a.node, 10 * MAX_WANTED_PER_SLOT)
    dispatcher.pull(a.node, 10 * MAX_WANTED_PER_SLOT)
    expect(a.leased()).toHaveLength(MAX_WANTED_PER_SLOT)
  })

  it('fails the jobs of a pool no node can run, with the error the nodes gave', () => {
    const { dispatcher, join, open } = mesh()
    const a = join('a', 1)
    const b = join('b', 1)
    const client = open('broken.js')
    const error = { name: 'WorkerLoadError', message: "can't load the worker module broken.js" }
    dispatcher.submit(client.pool, jobs(1, 3))
    dispatcher.pull(a.node, 1)
    dispatcher.pull(b.node, 1)
    const poolId = client.pool.spec.poolId
    dispatcher.loadFailed(a.node, poolId, error)
    // Node b may still run it: nothing fails yet, and the client hears why node a can't.
    expect(client.results()).toEqual([])
    expect(client.channel.of('output').flatMap((m) => m.lines)).toEqual([`[a] ${error.message}`])
    dispatcher.loadFailed(b.node, poolId, error)
    expect(client.results()).toEqual([{ id: 3, ok: false, error }])
    // The nodes give back the jobs they could not start: those fail too, and are leased to no one.
    dispatcher.release(
      a.node,
      a.leased().map((j) => j.jobId),
    )
    dispatcher.release(
      b.node,
      b.leased().map((j) => j.jobId),
    )
    expect(client.results().map((r) => [r.id, r.ok])).toEqual([
      [3, false],
      [1, false],
      [2, false],
    ])
    // What is submitted now fails at once.
    dispatcher.submit(client.pool, jobs(4, 1))
    expect(client.results().at(-1)).toEqual({ id: 4, ok: false, error })
    expect(a.leased()).toHaveLength(1)
    expect(b.leased()).toHaveLength(1)
  })

  it('fails what waits in an embedded head once its only node has no working slot', () => {
    const { dispatcher, join, open } = mesh({ alone: true })
    const local = join('local', 1)
    const client = open('w.js')
    dispatcher.slotsChanged(local.node, 0)
    dispatcher.submit(client.pool, jobs(1, 2))
    const results = client.results()
    expect(results.map((r) => r.id)).toEqual([1, 2])
    for (const result of results) {
      expect(result.ok).toBe(false)
      if (!result.ok) expect(result.error.name).toBe('WorkerLostError')
    }
  })

  it('gives the jobs of a node that left to the nodes still here', () => {
    const { dispatcher, join, open, ledger, nodes } = mesh()
    const a = join('a', 1)
    const b = join('b', 1)
    const client = open('w.js')
    dispatcher.submit(client.pool, jobs(1, 1))
    dispatcher.pull(a.node, 1)
    dispatcher.pull(b.node, 1)
    const [job] = a.leased()
    expect(b.leased()).toEqual([])
    nodes.gone(a.node, new Error('its connection closed'))
    expect(b.leased().map((j) => j.jobId)).toEqual([job?.jobId])
    expect(ledger.holder(job?.jobId ?? 0)?.nodeId).toBe('b')
  })

  it('tells clients with their results how many more jobs the nodes asked for than it had queued', () => {
    const { dispatcher, join, open } = mesh()
    const a = join('a', 1)
    const b = join('b', 1)
    const client = open('w.js')
    dispatcher.pull(a.node, 10)
    dispatcher.pull(b.node, 10)
    dispatcher.submit(client.pool, jobs(1, 6))
    expect(dispatcher.room).toBe(14)
    const [first] = a.leased()
    dispatcher.results(a.node, [
      { jobId: first?.jobId ?? 0, leaseId: first?.leaseId ?? 0, ok: true, value: new Uint8Array() },
    ])
    expect(client.channel.of('results').at(-1)?.room).toBe(14)
    // Jobs wait: the nodes, not the client, hold the pool back now.
    dispatcher.submit(client.pool, jobs(7, 40))
    expect(dispatcher.room).toBe(0)
  })
})

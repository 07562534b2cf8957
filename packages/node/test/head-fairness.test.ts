import type { LeasedJob } from '@meshpool/core'
import { describe, expect, it } from 'vitest'
import { jobs, mesh } from './head-mesh.js'

const JOB_MS = 100
/** What a slot takes to load another pool's worker, in the simulated nodes. */
const LOAD_MS = 10
const STEP_MS = 5

interface SimSlot {
  poolId: number | undefined
  running: { job: LeasedJob; endsAt: number } | undefined
}

/**
 * Nodes as the head sees them run jobs, on the test's clock: each holds what
 * it was leased in a queue, runs it on its slots one job at a time (a slot
 * that switches pools loads first), and pulls one job as each one ends, as a
 * node agent does for long jobs (two per slot: one running, one held).
 */
function simulate(m: ReturnType<typeof mesh>, nodes: Array<{ id: string; slots: number }>) {
  const started: Array<{ poolId: number; at: number; node: string }> = []
  const done = new Map<number, number>()
  let switches = 0
  const sims = nodes.map(({ id, slots }) => {
    const joined = m.join(id, slots)
    const slotList: SimSlot[] = Array.from({ length: slots }, () => ({ poolId: undefined, running: undefined }))
    return { id, joined, slots: slotList, queue: [] as LeasedJob[], seen: 0 }
  })
  for (const sim of sims) m.dispatcher.pull(sim.joined.node, 2 * sim.slots.length)
  const step = (): void => {
    const now = m.clock.now
    for (const sim of sims) {
      const leases = sim.joined.channel.of('lease')
      for (; sim.seen < leases.length; sim.seen++) sim.queue.push(...(leases[sim.seen]?.jobs ?? []))
      for (const slot of sim.slots) {
        if (slot.running !== undefined && slot.running.endsAt <= now) {
          const { job } = slot.running
          slot.running = undefined
          done.set(job.poolId, (done.get(job.poolId) ?? 0) + 1)
          // A node asks for more at once; its results follow a moment later.
          m.dispatcher.pull(sim.joined.node, 1)
          m.dispatcher.results(sim.joined.node, [
            { jobId: job.jobId, leaseId: job.leaseId, ok: true, value: new Uint8Array() },
          ])
        }
        // A free slot takes the first job of its own pool, else the first job there is.
        const at = sim.queue.findIndex((job) => job.poolId === slot.poolId)
        const next = Math.max(at, 0)
        const job = slot.running === undefined ? sim.queue[next] : undefined
        if (job === undefined) continue
        sim.queue.splice(next, 1)
        const load = slot.poolId === job.poolId ? 0 : LOAD_MS
        if (slot.poolId !== undefined && load > 0) switches++
        slot.poolId = job.poolId
        slot.running = { job, endsAt: now + load + JOB_MS }
        started.push({ poolId: job.poolId, at: now + load, node: sim.id })
      }
    }
  }
  return {
    started,
    done,
    switches: () => switches,
    /** Runs the mesh on until `ms` on the clock. */
    runUntil(ms: number): void {
      while (m.clock.now < ms) {
        step()
        m.clock.now += STEP_MS
      }
    },
  }
}

/** When each pool's first job started. */
function firstStarts(started: Array<{ poolId: number; at: number }>): Map<number, number> {
  const first = new Map<number, number>()
  for (const { poolId, at } of started) if (!first.has(poolId)) first.set(poolId, at)
  return first
}

describe('fair shares over time', () => {
  for (const layout of [
    {
      name: 'two nodes of one slot',
      nodes: [
        { id: 'a', slots: 1 },
        { id: 'b', slots: 1 },
      ],
    },
    { name: 'one node of two slots', nodes: [{ id: 'a', slots: 2 }] },
  ]) {
    it(`6 pools on 2 slots (${layout.name}): every pool's first job starts within a few job lengths`, () => {
      const m = mesh()
      const clients = Array.from({ length: 6 }, (_, i) => m.open(`w${i}.js`))
      for (const client of clients) m.dispatcher.submit(client.pool, jobs(1, 50))
      const sim = simulate(m, layout.nodes)
      sim.runUntil(20 * JOB_MS)
      const first = firstStarts(sim.started)
      expect([...first.keys()].sort()).toEqual(clients.map((c) => c.pool.spec.poolId))
      // Three rounds of two slots, each a job or two long, and a worker load per switch.
      expect(Math.max(...first.values())).toBeLessThanOrEqual(4 * JOB_MS)
      // And they keep their turns: over the 2 s, no pool has much more than its sixth of the slots.
      const counts = clients.map((c) => sim.done.get(c.pool.spec.poolId) ?? 0)
      expect(Math.min(...counts)).toBeGreaterThanOrEqual(Math.max(...counts) / 2)
    })
  }

  it('a pool of priority 1 gets about twice the slots of one of priority 0', () => {
    const m = mesh()
    const high = m.open('high.js', { priority: 1 })
    const low = m.open('low.js')
    m.dispatcher.submit(high.pool, jobs(1, 1000))
    m.dispatcher.submit(low.pool, jobs(1, 1000))
    // Two slots: a share of 4/3 and one of 2/3, so one slot takes turns.
    const sim = simulate(m, [
      { id: 'a', slots: 1 },
      { id: 'b', slots: 1 },
    ])
    sim.runUntil(300 * JOB_MS)
    const ratio = (sim.done.get(high.pool.spec.poolId) ?? 0) / (sim.done.get(low.pool.spec.poolId) ?? 1)
    expect(ratio).toBeGreaterThan(1.8)
    expect(ratio).toBeLessThan(2.2)
  })

  it('rotates nothing where every pool has its whole share: two pools on two nodes keep their slots', () => {
    const m = mesh()
    const a = m.open('a.js')
    const b = m.open('b.js')
    m.dispatcher.submit(a.pool, jobs(1, 1000))
    m.dispatcher.submit(b.pool, jobs(1, 1000))
    const sim = simulate(m, [
      { id: 'a', slots: 1 },
      { id: 'b', slots: 1 },
    ])
    sim.runUntil(100 * JOB_MS)
    expect(sim.switches()).toBe(0)
    const first = firstStarts(sim.started)
    expect([first.get(a.pool.spec.poolId), first.get(b.pool.spec.poolId)]).toEqual([LOAD_MS, LOAD_MS])
  })
})

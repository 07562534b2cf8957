import { describe, expect, it } from 'vitest'
import { type Job, newJob } from '../src/ledger/job.js'
import { LeaseTable } from '../src/ledger/lease-table.js'

const job = (jobId: number): Job => newJob(1, jobId, jobId, new Uint8Array(), 0, 0)

describe('LeaseTable', () => {
  it('gives each lease the next id from a random start, and counts an attempt', () => {
    const leases = new LeaseTable(() => 0.5)
    const [a, b] = [job(1), job(2)]
    leases.grant(a, 'n1', 100)
    leases.grant(b, 'n1', 100)
    expect(a.leaseId).toBe(1 + 2 ** 39)
    expect(b.leaseId).toBe(a.leaseId + 1)
    expect([a.state, a.attempt, a.nodeId, a.expiresAt]).toStrictEqual(['leased', 1, 'n1', 100])
    expect(leases.granted).toBe(2)
    expect(leases.heldBy('n1')).toBe(2)
    expect(leases.isCurrent(a, 'n1', a.leaseId)).toBe(true)
    expect(leases.isCurrent(a, 'n2', a.leaseId)).toBe(false)
    expect(leases.isCurrent(a, 'n1', b.leaseId)).toBe(false)
  })

  it('a job given back loses its lease and the attempt', () => {
    const leases = new LeaseTable(() => 0)
    const a = job(1)
    leases.grant(a, 'n1', 100)
    leases.giveBack(a)
    expect([a.attempt, a.nodeId, leases.heldBy('n1'), leases.leased]).toStrictEqual([0, undefined, 0, 0])
    expect(leases.wasHeld(a, 'n1', a.leaseId)).toBe(false)
  })

  it('renews every lease of a node, and only its own', () => {
    const leases = new LeaseTable(() => 0)
    const [a, b, c] = [job(1), job(2), job(3)]
    leases.grant(a, 'n1', 100)
    leases.grant(b, 'n1', 100)
    leases.grant(c, 'n2', 100)
    expect(leases.renew('n1', (j) => 500 + j.jobId)).toBe(2)
    expect([a.expiresAt, b.expiresAt, c.expiresAt]).toStrictEqual([501, 502, 100])
    expect(leases.renew('n3', () => 0)).toBe(0)
  })

  it('expires the leases that ran out, newest first, and remembers them', () => {
    const leases = new LeaseTable(() => 0)
    const [a, b, c, d] = [job(1), job(2), job(3), job(4)]
    leases.grant(a, 'n1', 100)
    leases.grant(b, 'n1', 100)
    leases.grant(c, 'n1', 300)
    leases.grant(d, 'n2', 100)
    expect(leases.overdueNodes(99)).toStrictEqual([])
    expect(leases.overdueNodes(100)).toStrictEqual(['n1', 'n2'])
    const ended = leases.expire(100)
    expect(ended.map(({ nodeId, job }) => [nodeId, job.jobId])).toStrictEqual([
      ['n1', 2],
      ['n1', 1],
      ['n2', 4],
    ])
    expect(leases.expired).toBe(3)
    expect([leases.leased, leases.heldBy('n1')]).toStrictEqual([1, 1])
    expect(a.nodeId).toBeUndefined()
    expect(leases.wasHeld(a, 'n1', a.leaseId)).toBe(true)
    expect(leases.wasHeld(a, 'n2', a.leaseId)).toBe(false)
    expect(leases.expire(100)).toStrictEqual([])
  })

  it('a node that leaves gives up all its leases, newest first, remembered but not counted as expired', () => {
    const leases = new LeaseTable(() => 0)
    const [a, b] = [job(1), job(2)]
    leases.grant(a, 'n1', 100)
    leases.grant(b, 'n1', 100)
    expect(leases.takeNode('n1').map((j) => j.jobId)).toStrictEqual([2, 1])
    expect([leases.leased, leases.expired, a.nodeId]).toStrictEqual([0, 0, undefined])
    expect(leases.wasHeld(b, 'n1', b.leaseId)).toBe(true)
    expect(leases.takeNode('n1')).toStrictEqual([])
    expect(leases.overdueNodes(1000)).toStrictEqual([])
  })

  it('a tick looks at no lease of a node until its first one could have run out', () => {
    const leases = new LeaseTable(() => 0)
    let looks = 0
    /** A job that counts each time its expiry is read. */
    const counted = (jobId: number): Job => {
      const j = job(jobId)
      let expiresAt = 0
      Object.defineProperty(j, 'expiresAt', {
        get: () => {
          looks++
          return expiresAt
        },
        set: (v: number) => {
          expiresAt = v
        },
      })
      return j
    }
    const jobs = Array.from({ length: 1000 }, (_, i) => counted(i))
    for (const [i, j] of jobs.entries()) leases.grant(j, `n${i % 10}`, 1000)
    looks = 0
    for (let now = 0; now < 1000; now += 100) {
      expect(leases.overdueNodes(now)).toEqual([])
      expect(leases.expire(now)).toEqual([])
    }
    expect(looks).toBe(0)
    // Node n3 stops renewing; the others renew. Only n3's leases run out, and only its are looked at.
    for (let n = 0; n < 10; n++) if (n !== 3) leases.renew(`n${n}`, () => 2000)
    looks = 0
    expect(leases.overdueNodes(1000)).toEqual(['n3'])
    expect(leases.expire(1000).map((e) => e.nodeId)).toEqual(Array(100).fill('n3'))
    expect(looks).toBeLessThanOrEqual(2 * 100)
    expect(leases.heldBy('n3')).toBe(0)
    expect(leases.expire(1999)).toEqual([])
    // A node whose earliest lease ended meanwhile is looked at once, then keeps its next deadline.
    const early = job(5000)
    leases.grant(early, 'n0', 1500)
    leases.end(early)
    expect(leases.expire(1500)).toEqual([])
    looks = 0
    expect(leases.expire(1600)).toEqual([])
    expect(looks).toBe(0)
  })
})

import { encodeValue, JobLedger, type RoutedOutcome } from '@meshpool/core'
import { describe, expect, it } from 'vitest'
import type { NodeSession } from '../src/head/head-types.js'
import { LeaseClock, TICK_MS } from '../src/head/lease-clock.js'
import { nodeSession } from './head-fakes.js'

const LEASE_MS = 1000

/** A ledger with one job leased to node a and one to node b at time 0, and a lease clock over it. */
function twoLeases(settings: { maxAttempts?: number } = {}) {
  const clock = { now: 0 }
  const ledger = new JobLedger({ now: () => clock.now })
  ledger.addPool(1, { leaseMs: LEASE_MS, ...settings })
  ledger.submit(1, 1, encodeValue(1))
  ledger.submit(1, 2, encodeValue(2))
  const [toA] = ledger.lease('a', 1)
  const [toB] = ledger.lease('b', 1)
  if (toA === undefined || toB === undefined) throw new Error('both jobs should be leased')
  const nodes = new Map<string, NodeSession>([
    ['a', nodeSession('a')],
    ['b', nodeSession('b')],
  ])
  const ticks: RoutedOutcome[][] = []
  const back: string[] = []
  const leases = new LeaseClock({
    ledger,
    nodeOf: (id) => nodes.get(id),
    now: () => clock.now,
    onTick: (failed) => ticks.push(failed),
    onBack: (node) => back.push(node.id),
    log: () => {},
  })
  const node = (id: string) => nodes.get(id) as NodeSession
  return { clock, ledger, leases, node, ticks, back, jobA: toA.jobId, jobB: toB.jobId }
}

describe('the lease clock', () => {
  it('keeps a lease its node renews, and expires one not renewed at leaseMs, its job queued again', () => {
    const { clock, ledger, leases, node, ticks, jobA, jobB } = twoLeases()
    node('b').wanted = 3
    clock.now = 600
    leases.renew(node('a'))
    expect(node('a').lastHeartbeat).toBe(600)
    clock.now = LEASE_MS - 1
    leases.tick()
    expect([ledger.stateOf(jobA), ledger.stateOf(jobB)]).toEqual(['leased', 'leased'])
    clock.now = LEASE_MS
    leases.tick()
    expect(ledger.stateOf(jobA)).toBe('leased')
    expect(ledger.stateOf(jobB)).toBe('queued')
    // Node b stopped renewing: it is left out until it heartbeats, and keeps the credit it asked for
    // (it would ask for no more: idle, it counts that credit as still asked for).
    expect(node('b')).toMatchObject({ silent: true, wanted: 3 })
    expect(node('a').silent).toBe(false)
    // The renewed lease runs leaseMs from its renewal.
    clock.now = 600 + LEASE_MS - 1
    leases.tick()
    expect(ledger.stateOf(jobA)).toBe('leased')
    clock.now = 600 + LEASE_MS
    leases.tick()
    expect(ledger.stateOf(jobA)).toBe('queued')
    expect(ticks).toEqual([[], [], [], []])
  })

  it('hands on a job that ran out of attempts when its lease expires, to route to its client', () => {
    const { clock, leases, ticks } = twoLeases({ maxAttempts: 1 })
    clock.now = LEASE_MS
    leases.tick()
    expect(ticks).toHaveLength(1)
    const failed = ticks[0] ?? []
    expect(failed.map((f) => f.outcome.id).sort()).toEqual([1, 2])
    for (const { outcome } of failed) {
      expect(outcome.ok).toBe(false)
      if (!outcome.ok) expect(outcome.error.name).toBe('WorkerLostError')
    }
  })

  it('says a silent node is back when it heartbeats again, once', () => {
    const { clock, leases, node, back } = twoLeases()
    clock.now = LEASE_MS
    leases.tick()
    expect(node('a').silent).toBe(true)
    clock.now = LEASE_MS + 50
    leases.renew(node('a'))
    leases.renew(node('a'))
    expect(back).toEqual(['a'])
    expect(node('a')).toMatchObject({ silent: false, lastHeartbeat: LEASE_MS + 50 })
  })

  it('starts no timer until start(), and start() and stop() are idempotent', () => {
    const started: number[] = []
    let stopped = 0
    let tick: (() => void) | undefined
    const ledger = new JobLedger({ now: () => 0 })
    const ticks: RoutedOutcome[][] = []
    const leases = new LeaseClock({
      ledger,
      nodeOf: () => undefined,
      now: () => 0,
      repeat: (fn, ms) => {
        started.push(ms)
        tick = fn
        return () => stopped++
      },
      onTick: (failed) => ticks.push(failed),
      onBack: () => {},
      log: () => {},
    })
    expect(started).toEqual([])
    leases.start()
    leases.start()
    expect(started).toEqual([TICK_MS])
    tick?.()
    expect(ticks).toEqual([[]])
    leases.stop()
    leases.stop()
    expect(stopped).toBe(1)
  })
})

import { describe, expect, it } from 'vitest'
import { FairShares, TURN_MS, weightOf } from '../src/head/fair-shares.js'

/** Fair shares over nodes of `slots` slots each, with a clock and queues the test sets. */
function shares(slots: number[]) {
  const clock = { now: 0 }
  const queued = new Map<number, number>()
  const fair = new FairShares({ now: () => clock.now, queuedCount: (poolId) => queued.get(poolId) ?? 0 })
  const nodes = slots.map((n) => {
    const node = { unloadable: new Map<number, unknown>() }
    fair.setSlots(node, n)
    return node
  })
  /** Pools with jobs queued now (the others have none); each pool is known from its first time here. */
  const wait = (pools: Record<number, number>) => {
    queued.clear()
    for (const [poolId, weight] of Object.entries(pools)) {
      fair.addPool(Number(poolId), weight)
      queued.set(Number(poolId), 10)
    }
    fair.refresh()
  }
  /** Each node is looked at before it is leased jobs, with `boundaries` jobs ended there since. */
  const settle = (boundaries = 0) => {
    for (const node of nodes) {
      fair.boundaries(node, boundaries)
      fair.settle(node)
    }
    return nodes.map((node) => [...fair.sharesOf(node)].sort(([p], [q]) => p - q))
  }
  return { clock, queued, fair, nodes, wait, settle }
}

/** Slots per pool over all nodes, by pool id. */
function held(settled: Array<Array<[number, number]>>): Array<[number, number]> {
  const total = new Map<number, number>()
  for (const [poolId, n] of settled.flat()) total.set(poolId, (total.get(poolId) ?? 0) + n)
  return [...total].sort(([p], [q]) => p - q)
}

describe('fair shares of slots among waiting pools', () => {
  it('give every slot to the one pool that waits', () => {
    const { wait, settle } = shares([2, 4])
    wait({ 7: 1 })
    expect(settle()).toEqual([[[7, 2]], [[7, 4]]])
  })

  it('split the slots evenly, the first pools taking what does not divide, and keep a node on one pool', () => {
    const { wait, settle } = shares([1, 1, 1])
    wait({ 1: 1, 2: 1 })
    expect(settle()).toEqual([[[1, 1]], [[2, 1]], [[1, 1]]])
    const split = shares([2, 2])
    split.wait({ 1: 1, 2: 1 })
    expect(split.settle()).toEqual([[[1, 2]], [[2, 2]]])
  })

  it('keep slots on the pools they run while each has its whole share, however long', () => {
    const { clock, wait, settle } = shares([1, 1, 2])
    wait({ 1: 1, 2: 1 })
    const first = settle()
    clock.now = 100 * TURN_MS
    expect(settle(2)).toEqual(first)
  })

  it('give a newly waiting pool its share from the nodes with slots to spare, a slot per job that ends', () => {
    const { wait, settle } = shares([4, 2])
    wait({ 1: 1 })
    expect(settle()).toEqual([[[1, 4]], [[1, 2]]])
    wait({ 1: 1, 2: 1 })
    // Nothing ended yet: the slots run what they were leased.
    expect(settle()).toEqual([[[1, 4]], [[1, 2]]])
    // One slot per node changes pools for each job that ends there, until pool 2 has its half.
    expect(settle(1)).toEqual([
      [
        [1, 3],
        [2, 1],
      ],
      [
        [1, 1],
        [2, 1],
      ],
    ])
    const half = [
      [
        [1, 2],
        [2, 2],
      ],
      [
        [1, 1],
        [2, 1],
      ],
    ]
    expect(settle(1)).toEqual(half)
    // Each has its three slots: what ends now changes nothing.
    expect(settle(4)).toEqual(half)
  })

  it('rotate a slot that does not divide among the waiting pools, so each has it a third of the time and none starves', () => {
    const { clock, wait, settle } = shares([1])
    wait({ 1: 1, 2: 1, 3: 1 })
    const turns = new Map<number, number>()
    const lastHeld = new Map([
      [1, 0],
      [2, 0],
      [3, 0],
    ])
    let longestWait = 0
    for (let turn = 1; turn <= 30; turn++) {
      const holder = settle(1)[0]?.[0]?.[0] as number
      turns.set(holder, (turns.get(holder) ?? 0) + 1)
      for (const last of lastHeld.values()) longestWait = Math.max(longestWait, turn - last - 1)
      lastHeld.set(holder, turn)
      clock.now += TURN_MS
    }
    expect([...turns.values()].every((n) => n >= 9 && n <= 11)).toBe(true)
    // A pool holds the slot until it is a turn ahead of the one furthest behind: two turns, then the others' four.
    expect(longestWait).toBeLessThanOrEqual(4)
  })

  it('weight each pool by 2^priority: weights 2 and 1 on three slots are two slots and one', () => {
    expect([weightOf(0), weightOf(1), weightOf(-1), weightOf(3)]).toEqual([1, 2, 0.5, 8])
    const { wait, settle } = shares([1, 1, 1])
    wait({ 1: 1, 2: weightOf(1) })
    expect(held(settle())).toEqual([
      [1, 1],
      [2, 2],
    ])
  })

  it('owe a pool nothing for the time it had no jobs queued', () => {
    const { clock, wait, settle } = shares([1, 1])
    wait({ 1: 1, 2: 1 })
    settle()
    wait({ 1: 1 })
    settle()
    clock.now = 1000 * TURN_MS
    // Pool 2 comes back after pool 1 had every slot for a long time: it gets its half, not both slots.
    wait({ 1: 1, 2: 1 })
    for (let i = 0; i < 10; i++) {
      clock.now += TURN_MS
      expect(held(settle(1))).toEqual([
        [1, 1],
        [2, 1],
      ])
    }
  })

  it('a node runs its share, helps other pools once its own have nothing queued, and never a pool it cannot load', () => {
    const { fair, nodes, queued, wait, settle } = shares([1, 1])
    wait({ 1: 1, 2: 1 })
    settle()
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
    expect([fair.mayRun(a, 1), fair.mayRun(a, 2)]).toEqual([true, false])
    expect([fair.mayRun(b, 1), fair.mayRun(b, 2)]).toEqual([false, true])
    queued.set(1, 0)
    expect(fair.mayRun(a, 2)).toBe(true)
    a.unloadable.set(2, 'no such package')
    expect(fair.mayRun(a, 2)).toBe(false)
  })
})

import { describe, expect, it } from 'vitest'
import { PoolUpdates } from '../src/node/pool-updates.js'

const entry = (seq: number) => ({ poolId: 1, seq, value: new Uint8Array([seq]) })

describe("a node's copy of a pool's update log", () => {
  it('keeps updates in order, holds back those past a gap, and drops repeats', () => {
    const log = new PoolUpdates()
    expect(log.accept(entry(1))).toBe('new')
    expect(log.accept(entry(3))).toBe('gap')
    expect(log.accept(entry(4))).toBe('gap')
    expect(log.known).toBe(1)
    expect(log.accept(entry(2))).toBe('new')
    expect(log.known).toBe(4)
    expect([1, 2, 3, 4].map((seq) => log.get(seq).seq)).toEqual([1, 2, 3, 4])
    expect(log.accept(entry(3))).toBe('old')
    expect(log.known).toBe(4)
  })

  it('keeps the newest updates within its byte budget; older ones are gone', () => {
    const log = new PoolUpdates(3)
    for (let seq = 1; seq <= 5; seq++) log.accept(entry(seq))
    expect(log.known).toBe(5)
    expect(log.first).toBe(3)
    expect([3, 4, 5].map((seq) => log.get(seq).seq)).toEqual([3, 4, 5])
  })

  it('skips what the head no longer has, then takes what was held back after it', () => {
    const log = new PoolUpdates()
    log.accept(entry(1))
    expect(log.accept(entry(9))).toBe('gap')
    log.skipTo(8)
    expect(log.known).toBe(9)
    expect(log.first).toBe(9)
    expect(log.get(9).seq).toBe(9)
    log.skipTo(4) // behind what is known: nothing changes
    expect(log.known).toBe(9)
  })
})

describe('what a slot needs next', () => {
  it('the updates after the ones it has, and how many it can no longer get', () => {
    const log = new PoolUpdates(3) // three bytes: three one-byte updates
    for (let seq = 1; seq <= 5; seq++) log.accept(entry(seq))
    expect(log.first).toBe(3)
    expect(log.pendingFor(4)).toEqual({ missed: 0, entries: [entry(5)] })
    expect(log.pendingFor(5)).toEqual({ missed: 0, entries: [] })
    expect(log.pendingFor(2)).toEqual({ missed: 0, entries: [entry(3), entry(4), entry(5)] })
    expect(log.pendingFor(0)).toEqual({ missed: 2, entries: [entry(3), entry(4), entry(5)] })
  })
})

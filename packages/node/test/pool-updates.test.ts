import { describe, expect, it } from 'vitest'
import { PoolUpdates } from '../src/pool-updates.js'

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
})

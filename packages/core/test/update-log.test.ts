import { DEFAULT_UPDATE_LOG_BYTES, UpdateLog } from '@meshpool/core'
import { describe, expect, it } from 'vitest'

const value = (size: number, fill = 0): Uint8Array => new Uint8Array(size).fill(fill)
const seqs = (log: UpdateLog, after: number): number[] => log.since(after).entries.map((e) => e.seq)

describe('UpdateLog', () => {
  it('numbers updates from 1, per pool', () => {
    const log = new UpdateLog(7)
    expect(log.seq).toBe(0)
    expect(log.bytes).toBe(0)
    const first = log.append(value(3, 1))
    expect(first).toStrictEqual({ poolId: 7, seq: 1, value: value(3, 1) })
    expect(log.append(value(2)).seq).toBe(2)
    expect(log.append(value(1)).seq).toBe(3)
    expect(log.seq).toBe(3)
    expect(log.bytes).toBe(6)
    expect(new UpdateLog(8).append(value(1)).seq).toBe(1)
  })

  it('since() gives the entries after a number, in order, with nothing missed', () => {
    const log = new UpdateLog(1)
    for (let i = 1; i <= 5; i++) log.append(value(1, i))
    expect(log.since(0)).toStrictEqual({
      entries: [1, 2, 3, 4, 5].map((i) => ({ poolId: 1, seq: i, value: value(1, i) })),
      missed: 0,
    })
    expect(seqs(log, 3)).toStrictEqual([4, 5])
    expect(log.since(3).missed).toBe(0)
    expect(log.since(5)).toStrictEqual({ entries: [], missed: 0 })
    // A node that claims to be ahead gets nothing and is not told it missed anything.
    expect(log.since(99)).toStrictEqual({ entries: [], missed: 0 })
  })

  it('an empty log has nothing to give', () => {
    expect(new UpdateLog(1).since(0)).toStrictEqual({ entries: [], missed: 0 })
  })

  it('drops the oldest entries past its byte budget and reports how many were missed', () => {
    const log = new UpdateLog(1, 10)
    for (let i = 1; i <= 5; i++) log.append(value(4, i))
    // 5 × 4 bytes with a budget of 10: only the last two fit.
    expect(log.bytes).toBe(8)
    expect(log.seq).toBe(5)
    expect(log.since(0)).toMatchObject({ missed: 3 })
    expect(seqs(log, 0)).toStrictEqual([4, 5])
    expect(log.since(2)).toMatchObject({ missed: 1 })
    expect(log.since(3)).toMatchObject({ missed: 0 })
    expect(seqs(log, 3)).toStrictEqual([4, 5])
    expect(seqs(log, 4)).toStrictEqual([5])
  })

  it('keeps the latest update even when it alone is over the budget', () => {
    const log = new UpdateLog(1, 10)
    log.append(value(4))
    log.append(value(50))
    expect(seqs(log, 0)).toStrictEqual([2])
    expect(log.since(0).missed).toBe(1)
    expect(log.bytes).toBe(50)
    log.append(value(1))
    expect(seqs(log, 0)).toStrictEqual([3])
    expect(log.bytes).toBe(1)
    expect(log.since(0).missed).toBe(2)
  })

  it('empty updates cost nothing and are all kept', () => {
    const log = new UpdateLog(1, 0)
    for (let i = 0; i < 100; i++) log.append(value(0))
    expect(log.bytes).toBe(0)
    expect(log.since(0).entries).toHaveLength(100)
  })

  it('stays within budget over many appends', () => {
    const log = new UpdateLog(1, 1000)
    for (let i = 1; i <= 2000; i++) {
      log.append(value(1 + (i % 37)))
      expect(log.bytes).toBeLessThanOrEqual(1000)
      const { entries, missed } = log.since(0)
      expect(missed + entries.length).toBe(i)
      expect(entries.at(-1)?.seq).toBe(i)
    }
  })

  it('has a 64 MiB default budget', () => {
    expect(DEFAULT_UPDATE_LOG_BYTES).toBe(64 * 1024 * 1024)
  })
})

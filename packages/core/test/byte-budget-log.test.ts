import { ByteBudgetLog } from '@meshpool/core'
import { describe, expect, it } from 'vitest'

const sized = (budget: number) => new ByteBudgetLog<number>(budget, (size) => size)

describe('ByteBudgetLog', () => {
  it('keeps every entry while their bytes stay within the budget', () => {
    const log = sized(10)
    expect([log.push(4), log.push(6)]).toStrictEqual([0, 0])
    expect([...log]).toStrictEqual([4, 6])
    expect([log.length, log.bytes]).toStrictEqual([2, 10])
  })

  it('drops the oldest entries past the budget, and says how many', () => {
    const log = sized(10)
    log.push(4)
    log.push(3)
    log.push(2)
    expect(log.push(6)).toBe(2)
    expect(log.entries()).toStrictEqual([2, 6])
    expect(log.bytes).toBe(8)
    // Back at the budget exactly: nothing more goes.
    expect(log.push(2)).toBe(0)
    expect(log.bytes).toBe(10)
    expect(log.at(0)).toBe(2)
    expect(log.at(3)).toBeUndefined()
  })

  it('always keeps the newest entry, even one over the budget alone', () => {
    const log = sized(10)
    log.push(3)
    expect(log.push(50)).toBe(1)
    expect([...log]).toStrictEqual([50])
    expect(log.bytes).toBe(50)
    expect(log.push(1)).toBe(1)
    expect([...log]).toStrictEqual([1])
  })

  it('clears to nothing', () => {
    const log = sized(10)
    log.push(3)
    log.clear()
    expect([log.length, log.bytes, log.at(0)]).toStrictEqual([0, 0, undefined])
    expect(log.push(2)).toBe(0)
  })
})

import { describe, expect, it } from 'vitest'
import { TickFlush } from '../src/tick-flush.js'

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('TickFlush', () => {
  it('flushes once at the end of the turn, however often asked, and again in a later turn', async () => {
    const batches: number[][] = []
    let held: number[] = []
    const flush = new TickFlush(() => {
      batches.push(held)
      held = []
    })
    for (const n of [1, 2, 3]) {
      held.push(n)
      flush.request()
    }
    expect(batches).toEqual([])
    await nextTurn()
    expect(batches).toEqual([[1, 2, 3]])
    held.push(4)
    flush.request()
    await nextTurn()
    expect(batches).toEqual([[1, 2, 3], [4]])
  })

  it('now() flushes at once in place of the one asked for; a later request flushes again', async () => {
    let flushes = 0
    const flush = new TickFlush(() => {
      flushes++
    })
    flush.request()
    flush.now()
    expect(flushes).toBe(1)
    await nextTurn()
    expect(flushes).toBe(1)
    flush.request()
    await nextTurn()
    expect(flushes).toBe(2)
  })
})

import { Deque } from '@meshpool/core'
import { describe, expect, it } from 'vitest'

describe('Deque', () => {
  it('is empty to begin with', () => {
    const q = new Deque<number>()
    expect(q.length).toBe(0)
    expect(q.shift()).toBeUndefined()
    expect([...q]).toStrictEqual([])
  })

  it('shifts in push order', () => {
    const q = new Deque<string>()
    for (const s of ['a', 'b', 'c']) q.push(s)
    expect(q.length).toBe(3)
    expect([...q]).toStrictEqual(['a', 'b', 'c'])
    expect([q.shift(), q.shift(), q.shift(), q.shift()]).toStrictEqual(['a', 'b', 'c', undefined])
    expect(q.length).toBe(0)
  })

  it('unshift puts an item at the head, the last unshifted first', () => {
    const q = new Deque<number>()
    q.push(3)
    q.push(4)
    q.unshift(2)
    q.unshift(1)
    expect([...q]).toStrictEqual([1, 2, 3, 4])
    expect(q.shift()).toBe(1)
    q.unshift(0)
    expect([...q]).toStrictEqual([0, 2, 3, 4])
    expect(Array.from({ length: 5 }, () => q.shift())).toStrictEqual([0, 2, 3, 4, undefined])
  })

  it('keeps falsy items', () => {
    const q = new Deque<unknown>()
    for (const v of [0, '', false, null]) q.push(v)
    expect(q.length).toBe(4)
    expect([q.shift(), q.shift(), q.shift(), q.shift()]).toStrictEqual([0, '', false, null])
  })

  it('keeps FIFO order over many items, across compactions', () => {
    const q = new Deque<number>()
    const n = 100_000
    for (let i = 0; i < n; i++) q.push(i)
    const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i)
    const shiftN = (count: number): Array<number | undefined> => Array.from({ length: count }, () => q.shift())
    expect(shiftN(n / 2)).toStrictEqual(range(0, n / 2))
    expect(q.length).toBe(n / 2)
    for (let i = n; i < n + 10_000; i++) q.push(i)
    const rest = [...q]
    expect(rest).toHaveLength(n / 2 + 10_000)
    expect(rest[0]).toBe(n / 2)
    expect(rest.at(-1)).toBe(n + 9999)
    expect(shiftN(n / 2 + 10_000)).toStrictEqual(range(n / 2, n + 10_000))
    expect(q.length).toBe(0)
    expect(q.shift()).toBeUndefined()
  })

  it('matches an array model through random push, shift and unshift', () => {
    // Seeded LCG: the same sequence every run.
    let seed = 12_345
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) >>> 0
      return seed / 2 ** 32
    }
    const q = new Deque<number>()
    const model: number[] = []
    let next = 0
    for (let step = 0; step < 50_000; step++) {
      const r = random()
      // Push more than shift at first, then drain, so the queue grows past 1024 and compacts.
      const pushBias = step < 25_000 ? 0.55 : 0.3
      if (r < pushBias) {
        q.push(next)
        model.push(next++)
      } else if (r < pushBias + 0.1) {
        q.unshift(next)
        model.unshift(next++)
      } else if (q.shift() !== model.shift()) {
        expect.fail(`shift gave the wrong item at step ${step}`)
      }
      if (q.length !== model.length) expect.fail(`length ${q.length} instead of ${model.length} at step ${step}`)
      if (step % 5000 === 0) expect([...q]).toStrictEqual(model)
    }
    expect([...q]).toStrictEqual(model)
  })

  it('unshift after the back half has been partly consumed', () => {
    const q = new Deque<number>()
    for (let i = 0; i < 3000; i++) q.push(i)
    for (let i = 0; i < 2000; i++) q.shift()
    q.unshift(1999)
    q.unshift(1998)
    expect(q.length).toBe(1002)
    expect([...q].slice(0, 3)).toStrictEqual([1998, 1999, 2000])
    expect(q.shift()).toBe(1998)
  })

  it('clear empties it for reuse', () => {
    const q = new Deque<number>()
    for (let i = 0; i < 2000; i++) q.push(i)
    for (let i = 0; i < 1500; i++) q.shift()
    q.unshift(-1)
    q.clear()
    expect(q.length).toBe(0)
    expect([...q]).toStrictEqual([])
    expect(q.shift()).toBeUndefined()
    q.push(5)
    expect([...q]).toStrictEqual([5])
  })
})

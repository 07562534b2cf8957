import { decodeValue, encodeValue, UnsendableValueError } from '@meshpool/core'
import { describe, expect, it } from 'vitest'

const roundTrip = <T>(value: T): T => decodeValue<T>(encodeValue(value))

/** Calls `fn`, expects it to throw, and returns what it threw. */
function thrown(fn: () => unknown): Error {
  try {
    fn()
  } catch (err) {
    return err as Error
  }
  throw new Error('expected a throw')
}

describe('values that survive a round trip', () => {
  it.each([
    ['zero', 0],
    ['an integer', 42],
    ['a negative integer', -7],
    ['a float', 1.5],
    ['the largest safe integer', Number.MAX_SAFE_INTEGER],
    ['the smallest safe integer', Number.MIN_SAFE_INTEGER],
    ['a tiny float', Number.MIN_VALUE],
    ['the largest float', Number.MAX_VALUE],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['an empty string', ''],
    ['a string', 'hello'],
    ['a unicode string', 'héllo wörld ✓ 🚀 漢字'],
    ['a long string', 'x'.repeat(100_000)],
    ['true', true],
    ['false', false],
    ['null', null],
    ['undefined', undefined],
  ])('%s', (_, value) => {
    expect(roundTrip(value)).toStrictEqual(value)
  })

  it('arrays, empty and mixed', () => {
    expect(roundTrip([])).toStrictEqual([])
    expect(roundTrip([1, 'a', true, null, [2, [3]]])).toStrictEqual([1, 'a', true, null, [2, [3]]])
    const long = Array.from({ length: 10_000 }, (_, i) => i * 0.5)
    expect(roundTrip(long)).toStrictEqual(long)
  })

  it('plain objects, empty and nested', () => {
    expect(roundTrip({})).toStrictEqual({})
    const value = { a: 1, b: { c: 'd', e: [1, 2] }, 'key with spaces': true, '': 'empty key' }
    expect(roundTrip(value)).toStrictEqual(value)
  })

  it('keeps undefined inside objects and arrays', () => {
    expect(roundTrip({ a: undefined, b: [undefined, 1] })).toStrictEqual({ a: undefined, b: [undefined, 1] })
  })

  it('does not let a __proto__ key change the prototype', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as object
    const back = roundTrip(value) as Record<string, unknown>
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype)
    expect(back.polluted).toBeUndefined()
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('Map with any keys', () => {
    const value = new Map<unknown, unknown>([
      [1, 'one'],
      ['two', 2],
      [{ k: 'object key' }, [1, 2]],
      [null, new Map([['inner', true]])],
    ])
    const back = roundTrip(value)
    expect(back).toBeInstanceOf(Map)
    expect(back).toStrictEqual(value)
    expect([...back.keys()]).toStrictEqual([...value.keys()])
  })

  it('Set', () => {
    const value = new Set<unknown>([1, 'a', null, { b: 2 }])
    const back = roundTrip(value)
    expect(back).toBeInstanceOf(Set)
    expect(back).toStrictEqual(value)
  })

  it('Date, with its milliseconds', () => {
    for (const date of [new Date(0), new Date('2024-02-29T12:34:56.789Z'), new Date(-1e12), new Date(8.64e15)]) {
      const back = roundTrip(date)
      expect(back).toBeInstanceOf(Date)
      expect(back.getTime()).toBe(date.getTime())
    }
  })

  it.each([
    ['0n', 0n],
    ['1n', 1n],
    ['-1n', -1n],
    ['2^53 + 1', 2n ** 53n + 1n],
    ['2^63', 2n ** 63n],
    ['-(2^63)', -(2n ** 63n)],
    ['2^64 - 1', 2n ** 64n - 1n],
    ['2^64', 2n ** 64n],
    ['-(2^64)', -(2n ** 64n)],
    ['-(2^64) - 1', -(2n ** 64n) - 1n],
    ['2^200 + 12345', 2n ** 200n + 12_345n],
    ['-(3^150)', -(3n ** 150n)],
  ])('BigInt %s', (_, value) => {
    const back = roundTrip(value)
    expect(typeof back).toBe('bigint')
    expect(back).toBe(value)
  })

  it('keeps BigInt and number apart', () => {
    expect(roundTrip({ big: 5n, num: 5 })).toStrictEqual({ big: 5n, num: 5 })
  })

  it('Uint8Array, empty and not', () => {
    for (const value of [new Uint8Array(), new Uint8Array([0, 1, 254, 255])]) {
      const back = roundTrip(value)
      expect(back).toBeInstanceOf(Uint8Array)
      expect([...back]).toStrictEqual([...value])
    }
  })

  it('Buffer arrives as a Buffer', () => {
    const back = roundTrip(Buffer.from('hello'))
    expect(Buffer.isBuffer(back)).toBe(true)
    expect(back.toString()).toBe('hello')
  })

  it('a Uint8Array that views part of a larger buffer sends only its part', () => {
    const whole = new Uint8Array([9, 9, 1, 2, 3, 9])
    const back = roundTrip(whole.subarray(2, 5))
    expect([...back]).toStrictEqual([1, 2, 3])
  })

  it.each([
    ['Int8Array', new Int8Array([-128, 0, 127])],
    ['Uint8ClampedArray', new Uint8ClampedArray([0, 128, 255])],
    ['Int16Array', new Int16Array([-32768, 1, 32767])],
    ['Uint16Array', new Uint16Array([0, 65535])],
    ['Int32Array', new Int32Array([-(2 ** 31), 0, 2 ** 31 - 1])],
    ['Uint32Array', new Uint32Array([0, 2 ** 32 - 1])],
    ['Float32Array', new Float32Array([0.5, -1.25, Number.POSITIVE_INFINITY])],
    ['Float64Array', new Float64Array([Math.PI, -0.1, Number.NaN, Number.NEGATIVE_INFINITY])],
    ['BigInt64Array', new BigInt64Array([-(2n ** 63n), 0n, 2n ** 63n - 1n])],
    ['BigUint64Array', new BigUint64Array([0n, 2n ** 64n - 1n])],
  ])('%s keeps its type and values', (name, value) => {
    const back = roundTrip(value)
    expect(back.constructor.name).toBe(name)
    expect(back).toStrictEqual(value)
  })

  it('a typed array that views part of a larger buffer', () => {
    const whole = new Float64Array([1, 2, 3, 4])
    const part = new Float64Array(whole.buffer, 8, 2)
    const back = roundTrip(part)
    expect(back).toBeInstanceOf(Float64Array)
    expect([...back]).toStrictEqual([2, 3])
  })

  it('nested mixes of every type', () => {
    const value = {
      id: 7,
      name: 'run',
      ok: true,
      none: null,
      when: new Date(1_700_000_000_123),
      big: -(2n ** 80n),
      weights: new Float32Array([0.25, 0.5]),
      raw: new Uint8Array([1, 2, 3]),
      list: [1, 'two', [new Set([3, 4])], { deep: new Map<string, unknown>([['k', [5n, new Int32Array([6])]]]) }],
      byName: new Map<string, unknown>([
        ['a', { b: [new Date(0), Number.NaN] }],
        ['c', new Map([[1, new Set(['x'])]])],
      ]),
    }
    expect(roundTrip(value)).toStrictEqual(value)
  })

  it('an object that refers to itself', () => {
    const value: Record<string, unknown> = { name: 'loop' }
    value.self = value
    const back = roundTrip(value)
    expect(back.name).toBe('loop')
    expect(back.self).toBe(back)
  })

  it('an array that holds itself', () => {
    const list: unknown[] = [1]
    list.push(list)
    const back = roundTrip(list)
    expect(back[0]).toBe(1)
    expect(back[1]).toBe(back)
  })

  it('an object that refers to itself through a Map and a Set', () => {
    const value = { m: new Map<string, unknown>(), s: new Set<unknown>() }
    value.m.set('root', value)
    value.s.add(value)
    const back = roundTrip(value)
    expect(back.m.get('root')).toBe(back)
    expect([...back.s][0]).toBe(back)
  })

  it('a shared object stays shared', () => {
    const shared = { n: 1 }
    const back = roundTrip({ a: shared, b: shared, list: [shared] })
    expect(back.a).toBe(back.b)
    expect(back.list[0]).toBe(back.a)
  })

  it('a shared Map or Set stays shared', () => {
    const map = new Map([[1, 2]])
    const set = new Set(['x'])
    const back = roundTrip({ a: map, b: map, c: set, d: [set] })
    expect(back.a).toBeInstanceOf(Map)
    expect(back.a).toBe(back.b)
    expect(back.c).toBeInstanceOf(Set)
    expect(back.d[0]).toBe(back.c)
  })

  it('a class instance arrives as a plain object with its own fields', () => {
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
      norm(): number {
        return Math.hypot(this.x, this.y)
      }
    }
    expect(roundTrip(new Point(3, 4))).toStrictEqual({ x: 3, y: 4 })
  })

  it('an empty buffer decodes to undefined', () => {
    expect(decodeValue(new Uint8Array())).toBeUndefined()
  })
})

describe('values that cannot be sent', () => {
  const fn = (): number => 1
  // The codec would rebuild the inner reference as `{}`: refused rather than sent broken.
  function selfMap(): Map<string, unknown> {
    const map = new Map<string, unknown>()
    map.set('me', map)
    return map
  }
  function selfSet(): Set<unknown> {
    const set = new Set<unknown>()
    set.add({ back: set })
    return set
  }

  it.each([
    ['a function', fn, 'params is a function'],
    ['a symbol', Symbol('s'), 'params is a symbol'],
    ['a Promise', Promise.resolve(1), 'params is a Promise'],
    ['a WeakMap', new WeakMap(), 'params is a WeakMap or WeakSet'],
    ['a WeakSet', new WeakSet(), 'params is a WeakMap or WeakSet'],
    ['a method of an object', { a: [1, 2, { f() {} }] }, 'params.a[2].f is a function'],
    ['a function deep in arrays', [[[0, [fn]]]], 'params[0][0][1][0] is a function'],
    ['a symbol in an object', { s: Symbol('x') }, 'params.s is a symbol'],
    ['a Promise deep in an object', { a: { b: { c: Promise.resolve() } } }, 'params.a.b.c is a Promise'],
    ['a function as a Map value', new Map([['k', { cb: fn }]]), 'params.get(k).cb is a function'],
    ['a function as a Map key', new Map([[fn, 1]]), 'params (a Map key) is a function'],
    ['a function in a Set', new Set([1, fn]), 'params (a Set item) is a function'],
    ['a Map that holds itself', selfMap(), 'params.get(me) refers back to a Map or Set that holds it'],
    ['a Set that holds itself through an object', selfSet(), 'params (a Set item).back refers back to a Map or Set'],
    [
      'a function next to a cycle',
      (() => {
        const o: Record<string, unknown> = { a: 1 }
        o.self = o
        o.later = [fn]
        return o
      })(),
      'params.later[0] is a function',
    ],
  ])('%s throws UnsendableValueError naming where it sits', (_, value, where) => {
    const err = thrown(() => encodeValue(value, 'params'))
    expect(err).toBeInstanceOf(UnsendableValueError)
    expect(err.name).toBe('UnsendableValueError')
    expect(err.message).toContain(where)
    // ... and tells the user what to do instead.
    expect(err.message).toContain('pass data, not code')
  })

  it('names the value by what it is', () => {
    expect(thrown(() => encodeValue({ x: fn }, 'init')).message).toMatch(/^init\.x is a function/)
    expect(thrown(() => encodeValue({ x: fn })).message).toMatch(/^value\.x is a function/)
  })

  it('reads as one path when the value is named in words', () => {
    expect(thrown(() => encodeValue({ f: fn }, 'the update')).message).toMatch(/^update\.f is a function/)
    expect(thrown(() => encodeValue(fn, 'the update')).message).toMatch(/^the update is a function/)
    expect(thrown(() => encodeValue({ a: [fn] }, 'params (input 3)')).message).toMatch(
      /^params\.a\[0\] \(input 3\) is a function/,
    )
    expect(thrown(() => encodeValue({ f: fn }, 'the result of run()')).message).toMatch(
      /^the result of run\(\)\.f is a function/,
    )
  })

  it('throws at the call, before anything is encoded', () => {
    // A Promise would otherwise be sent as {} and the worker would get nonsense.
    expect(() => encodeValue({ pending: new Promise(() => {}) })).toThrow(UnsendableValueError)
  })
})

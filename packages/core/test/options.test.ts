import {
  checkKnownKeys,
  checkLimits,
  checkPositiveInteger,
  closestKey,
  DEFAULT_WINDOW,
  describe as describeValue,
  InvalidOptionError,
} from '@meshpool/core'
import { describe, expect, it } from 'vitest'

describe('option checks', () => {
  it('accepts positive integers and undefined', () => {
    expect(() => checkPositiveInteger(undefined, 'x')).not.toThrow()
    expect(() => checkPositiveInteger(1, 'x')).not.toThrow()
    expect(() => checkPositiveInteger(Number.MAX_SAFE_INTEGER, 'x')).not.toThrow()
    expect(() => checkPositiveInteger(0, 'x', { allowZero: true })).not.toThrow()
  })

  it.each([
    [0, 'got 0'],
    [-1, 'got -1'],
    [1.5, 'got 1.5'],
    [Number.NaN, 'got NaN'],
    [Number.POSITIVE_INFINITY, 'got Infinity'],
    [2 ** 60, 'got 1152921504606847000'],
    ['3', 'got "3"'],
    [null, 'got null'],
    [[1], 'got an array'],
    [{}, 'got an object'],
    [() => 1, 'got a function'],
    [3n, 'got 3'],
  ])('refuses %s with InvalidOptionError naming the field', (value, got) => {
    let err: unknown
    try {
      checkPositiveInteger(value, 'options.maxAttempts')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(InvalidOptionError)
    expect((err as Error).name).toBe('InvalidOptionError')
    expect((err as Error).message).toBe(`options.maxAttempts must be a positive integer, ${got}`)
  })

  it('says non-negative when zero is allowed', () => {
    expect(() => checkPositiveInteger(-1, 'options.retries', { allowZero: true })).toThrow(
      'options.retries must be a non-negative integer, got -1',
    )
  })

  it('checkLimits names the first bad field with its prefix', () => {
    expect(() => checkLimits({})).not.toThrow()
    expect(() =>
      checkLimits({
        maxAttempts: 3,
        retries: 0,
        timeoutMs: 10,
        leaseMs: 3000,
        maxJobsPerSlot: 1,
        window: DEFAULT_WINDOW,
      }),
    ).not.toThrow()
    expect(() => checkLimits({ retries: -1 })).toThrow('options.retries must be a non-negative integer')
    expect(() => checkLimits({ leaseMs: 0 }, 'pool')).toThrow('pool.leaseMs must be a positive integer, got 0')
    expect(() => checkLimits({ maxAttempts: 0, timeoutMs: 0 })).toThrow(/^options\.maxAttempts/)
    for (const field of ['timeoutMs', 'maxJobsPerSlot', 'window'] as const) {
      expect(() => checkLimits({ [field]: 0.5 })).toThrow(`options.${field} must be a positive integer`)
    }
  })

  it('describes values briefly, and cuts long strings', () => {
    expect(describeValue('x'.repeat(100))).toBe(`"${'x'.repeat(60)}…"`)
    expect(describeValue(undefined)).toBe('undefined')
    expect(describeValue(Symbol('s'))).toBe('Symbol(s)')
  })
})

describe('unknown option keys', () => {
  const POOL = ['worker', 'init', 'head', 'maxAttempts', 'retries', 'timeoutMs', 'leaseMs', 'slots', 'ship']
  const thrown = (options: object, known = POOL): Error => {
    try {
      checkKnownKeys(options, known, 'createPool')
    } catch (err) {
      return err as Error
    }
    throw new Error('no error')
  }

  it('accepts known keys, in any number, and an empty object', () => {
    expect(() => checkKnownKeys({}, POOL, 'createPool')).not.toThrow()
    expect(() => checkKnownKeys({ worker: 1, maxAttempts: 2, ship: undefined }, POOL, 'createPool')).not.toThrow()
  })

  it.each([
    ['maxAttempt', 'maxAttempts'],
    ['maxattempts', 'maxAttempts'],
    ['timeout', 'timeoutMs'],
    ['timeoutms', 'timeoutMs'],
    ['retry', 'retries'],
    ['reties', 'retries'],
    ['wroker', 'worker'],
    ['slot', 'slots'],
  ])('refuses %s and suggests %s', (typo, meant) => {
    const err = thrown({ worker: 'w.js', [typo]: 5 })
    expect(err).toBeInstanceOf(InvalidOptionError)
    expect(err.name).toBe('InvalidOptionError')
    expect(err.message).toBe(
      `createPool has no option "${typo}": did you mean \`${meant}\`? (its options: ${POOL.join(', ')})`,
    )
  })

  it('names a key that is nothing like an option without a wild guess', () => {
    expect(thrown({ password2: 'x', colour: 'red' }).message).toBe(
      `createPool has no option "password2" (its options: ${POOL.join(', ')})`,
    )
    expect(closestKey('x', ['n', 'cpu'])).toBeUndefined()
    expect(closestKey('signl', ['signal', 'timeoutMs', 'window'])).toBe('signal')
    expect(closestKey('onprogress', ['signal', 'onProgress', 'settle'])).toBe('onProgress')
    expect(closestKey('settled', ['signal', 'onProgress', 'settle'])).toBe('settle')
    expect(closestKey('gpu', ['n', 'cpu', 'gpus'])).toBe('gpus')
  })
})

import {
  AbortError,
  errorFromShape,
  errorShape,
  FrameError,
  HandshakeRefusedError,
  HeadUnreachableError,
  InvalidOptionError,
  NodeRefusedError,
  NotAHeadError,
  PoolClosedError,
  RemoteJobError,
  TimeoutError,
  UnsendableValueError,
  WorkerLoadError,
  WorkerLostError,
} from '@meshpool/core'
import { describe, expect, it } from 'vitest'

const classes = {
  RemoteJobError,
  WorkerLostError,
  TimeoutError,
  AbortError,
  InvalidOptionError,
  UnsendableValueError,
  FrameError,
  HandshakeRefusedError,
  HeadUnreachableError,
  NodeRefusedError,
  NotAHeadError,
  PoolClosedError,
  WorkerLoadError,
}

describe('errors', () => {
  it.each(Object.entries(classes))('%s has a stable name on the class and the instance', (name, Class) => {
    expect(Class.name).toBe(name)
    const err =
      Class === RemoteJobError ? new RemoteJobError({ name: 'E', message: 'm' }) : new (Class as typeof FrameError)('m')
    expect(err).toBeInstanceOf(Error)
    expect(err.name).toBe(name)
    expect(String(err)).toMatch(new RegExp(`^${name}: `))
  })

  it('errors with a default message say what happened', () => {
    expect(new WorkerLostError().message).toMatch(/lost/)
    expect(new TimeoutError().message).toMatch(/timeoutMs/)
    expect(new AbortError().message).toMatch(/aborted/)
    expect(new PoolClosedError().message).toMatch(/closed/)
  })

  it('RemoteJobError keeps the remote name, message and stack', () => {
    const err = new RemoteJobError(
      { name: 'RangeError', message: 'too big', stack: 'RangeError: too big\n    at run (w.js:3:9)' },
      'node-a',
    )
    expect(err.message).toBe('RangeError: too big (on node-a)')
    expect(err.remoteName).toBe('RangeError')
    expect(err.remoteStack).toContain('at run (w.js:3:9)')
    expect(err.stack).toContain('--- remote stack ---')
    expect(err.stack).toContain('at run (w.js:3:9)')
    const bare = new RemoteJobError({ name: 'Error', message: 'x' })
    expect(bare.message).toBe('Error: x')
    expect(bare.remoteStack).toBeUndefined()
  })

  it('errorShape turns anything thrown into name, message and stack', () => {
    const shape = errorShape(new TypeError('nope'))
    expect(shape).toMatchObject({ name: 'TypeError', message: 'nope' })
    expect(shape.stack).toContain('TypeError: nope')
    expect(errorShape(new TimeoutError()).name).toBe('TimeoutError')
    expect(errorShape('a string')).toStrictEqual({ name: 'Error', message: 'a non-Error value was thrown: a string' })
    expect(errorShape(undefined)).toStrictEqual({ name: 'Error', message: 'a non-Error value was thrown: undefined' })
    const noStack = new Error('n')
    noStack.stack = undefined
    expect(errorShape(noStack)).toStrictEqual({ name: 'Error', message: 'n' })
  })

  it('errorFromShape rebuilds meshpool errors as their own classes', () => {
    for (const Class of [
      WorkerLostError,
      TimeoutError,
      AbortError,
      InvalidOptionError,
      UnsendableValueError,
      FrameError,
      PoolClosedError,
      WorkerLoadError,
    ]) {
      const back = errorFromShape(errorShape(new Class('why')))
      expect(back).toBeInstanceOf(Class)
      expect(back.name).toBe(Class.name)
      expect(back.message).toBe('why')
    }
  })

  it('errorFromShape keeps the name of any other error', () => {
    const back = errorFromShape({ name: 'CustomError', message: 'c' })
    expect(back.name).toBe('CustomError')
    expect(back.message).toBe('c')
    // Names that exist on every object are not taken for classes.
    expect(errorFromShape({ name: 'constructor', message: 'x' }).name).toBe('constructor')
    expect(errorFromShape({ name: 'toString', message: 'x' }).name).toBe('toString')
  })
})

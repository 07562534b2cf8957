import { InvalidOptionError } from './errors.js'

/** Pool options that can be checked without I/O. */
export interface PoolLimits {
  maxAttempts?: number
  retries?: number
  timeoutMs?: number
  leaseMs?: number
  maxJobsPerSlot?: number
  window?: number
}

/** Jobs a call keeps in flight before it waits for results. @default 4096 */
export const DEFAULT_WINDOW = 4096

/** Throws InvalidOptionError naming the first option that is out of range. */
export function checkPositiveInteger(value: unknown, name: string, { allowZero = false } = {}): void {
  if (value === undefined) return
  const min = allowZero ? 0 : 1
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidOptionError(
      `${name} must be ${allowZero ? 'a non-negative' : 'a positive'} integer, got ${describe(value)}`,
    )
  }
}

/** Validates the numeric limits of a pool or a call. */
export function checkLimits(limits: PoolLimits, prefix = 'options'): void {
  checkPositiveInteger(limits.maxAttempts, `${prefix}.maxAttempts`)
  checkPositiveInteger(limits.retries, `${prefix}.retries`, { allowZero: true })
  checkPositiveInteger(limits.timeoutMs, `${prefix}.timeoutMs`)
  checkPositiveInteger(limits.leaseMs, `${prefix}.leaseMs`)
  checkPositiveInteger(limits.maxJobsPerSlot, `${prefix}.maxJobsPerSlot`)
  checkPositiveInteger(limits.window, `${prefix}.window`)
}

/** A short, safe description of a value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return 'an array'
  if (value === null) return 'null'
  if (typeof value === 'object') return 'an object'
  return String(value)
}

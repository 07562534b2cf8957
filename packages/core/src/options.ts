import { InvalidOptionError } from './errors.js'

/** Pool options that can be checked without I/O. */
export interface PoolLimits {
  maxAttempts?: number
  retries?: number
  timeoutMs?: number
  leaseMs?: number
  maxJobsPerSlot?: number
  window?: number
  priority?: number
}

/** A pool's priority runs from -MAX_PRIORITY to MAX_PRIORITY: its share of the slots weighs 2^priority. */
export const MAX_PRIORITY = 10

/** Jobs a call keeps in flight before it waits for results. @default 4096 */
export const DEFAULT_WINDOW = 4096
/**
 * A call without a `window` of its own starts at {@link DEFAULT_WINDOW} and
 * grows while the head says that nodes asked for more jobs than it had to
 * give (many nodes, short jobs: 4,096 jobs over 100 nodes are 41 each, leased
 * a few at a time): up to this many jobs in flight…
 */
export const GROWN_WINDOW_JOBS = 65_536
/** …and only while the params in flight come to less than this (so big inputs never grow it far). */
export const GROWN_WINDOW_BYTES = 64 * 1024 * 1024

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
  checkPriority(limits.priority, `${prefix}.priority`)
}

/** Throws InvalidOptionError unless a pool's priority is a number from -MAX_PRIORITY to MAX_PRIORITY. */
export function checkPriority(value: unknown, name: string): void {
  if (value === undefined) return
  if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) > MAX_PRIORITY) {
    throw new InvalidOptionError(
      `${name} must be a number from -${MAX_PRIORITY} to ${MAX_PRIORITY} (each step of 1 doubles the pool's share of the slots; leave it out for 0, an even share), got ${describe(value)}`,
    )
  }
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

/**
 * Throws InvalidOptionError for the first key of `options` that is not one of
 * `known`, naming it and, when one is close, the option that was meant:
 * `createPool has no option "maxAttempt": did you mean \`maxAttempts\`?`.
 * TypeScript catches these at compile time; JavaScript callers learn here.
 */
export function checkKnownKeys(options: object, known: readonly string[], call: string): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue
    const meant = closestKey(key, known)
    const hint = meant === undefined ? '' : `: did you mean \`${meant}\`?`
    throw new InvalidOptionError(
      `${call} has no option ${JSON.stringify(key)}${hint} (its options: ${known.join(', ')})`,
    )
  }
}

/**
 * The known key a misspelt one most likely meant: the nearest by edit distance
 * (ignoring case), or one the key is the start of (`timeout` → `timeoutMs`,
 * `retry` → `retries`);
 * undefined when none is close enough to be a slip.
 */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const typed = key.toLowerCase()
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of known) {
    const name = candidate.toLowerCase()
    // A key that starts the name beats a name one edit away: `gpu` meant `gpus`, not `cpu`.
    const distance =
      typed.length >= 3 && name.startsWith(typed)
        ? 0.5
        : typed.length >= 5 && name.startsWith(typed.slice(0, -1))
          ? 1.5
          : editDistance(typed, name)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  const allowed = Math.max(1, Math.floor(Math.max(key.length, best?.length ?? 0) / 3))
  return bestDistance <= allowed && bestDistance < key.length ? best : undefined
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i + j))
  const at = (i: number, j: number): number => (rows[i] as number[])[j] as number
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, at(i - 2, j - 2) + 1)
      ;(rows[i] as number[])[j] = d
    }
  }
  return at(a.length, b.length)
}

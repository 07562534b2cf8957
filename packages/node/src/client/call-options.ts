import { checkKnownKeys, checkPositiveInteger, describe, InvalidOptionError } from '@meshpool/core'
import type { LaunchOptions } from './launch.js'
import type { Progress } from './progress.js'

export interface CallOptions {
  /** Aborts the call: it rejects with AbortError at once, and its jobs are cancelled. */
  signal?: AbortSignal
  /** Run time limit of each job of this call in ms. @default the pool's timeoutMs */
  timeoutMs?: number
  /** Jobs in flight for this call. @default the pool's window */
  window?: number
}

/** Options of `map` and `imapUnordered`. */
export interface MapOptions extends CallOptions {
  /** Told where the call stands (done, failed, running, queued, each running job's ctx.progress), at most every 100 ms and when it ends. */
  onProgress?: (progress: Progress) => void
  /**
   * true: each job's outcome comes as a {@link Settled} (`{ ok: true, value }` or
   * `{ ok: false, error }`) and a failed job does not end the call, as with
   * `Promise.allSettled`. false: the call rejects with the first job's error and
   * cancels the rest. @default false
   */
  settle?: boolean
}

/** `map` and `imapUnordered` with `{ settle: true }`. */
export type SettleOptions = MapOptions & { settle: true }

/**
 * One job's outcome in a settled call (`{ settle: true }`): its result, or the
 * error it failed with (RemoteJobError, WorkerLostError, TimeoutError…).
 * `index` is the input's position, so a failure in completion order still says
 * which input it was.
 */
export type Settled<R> = { ok: true; value: R; index: number } | { ok: false; error: Error; index: number }

const CALL_KEYS = Object.keys({ signal: true, timeoutMs: true, window: true } satisfies Record<keyof CallOptions, true>)
const MAP_KEYS = Object.keys({
  signal: true,
  timeoutMs: true,
  window: true,
  onProgress: true,
  settle: true,
} satisfies Record<keyof MapOptions, true>)
/** `listen` is a launch option of newer versions: known here so that both agree. */
const LAUNCH_KEYS = Object.keys({
  n: true,
  cpu: true,
  memory: true,
  gpus: true,
  env: true,
  script: true,
  code: true,
  listen: true,
} satisfies Record<keyof LaunchOptions, true> & { listen: true })

/** Checks the options of `submit` (call 'submit') or of `map` / `imapUnordered`. */
export function checkCallOptions(options: MapOptions, call: 'submit' | 'map' | 'imapUnordered'): void {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError(`${call} takes an options object as its last argument, got ${describe(options)}`)
  }
  checkKnownKeys(options, call === 'submit' ? CALL_KEYS : MAP_KEYS, call)
  checkPositiveInteger(options.window, 'options.window')
  checkPositiveInteger(options.timeoutMs, 'options.timeoutMs')
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new InvalidOptionError(`options.signal must be an AbortSignal, got ${describe(options.signal)}`)
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw new InvalidOptionError(`options.onProgress must be a function, got ${describe(options.onProgress)}`)
  }
  if (options.settle !== undefined && typeof options.settle !== 'boolean') {
    throw new InvalidOptionError(`options.settle must be true or false, got ${describe(options.settle)}`)
  }
}

/** Checks that launchWorkers got only keys it knows (the values are checked where they are used). */
export function checkLaunchKeys(options: LaunchOptions): void {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError(`launchWorkers takes { n, … }, got ${describe(options)}`)
  }
  checkKnownKeys(options, LAUNCH_KEYS, 'launchWorkers')
}

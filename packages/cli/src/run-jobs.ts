import type { Pool } from '@meshpool/node'

/** One job's outcome, as `Promise.allSettled` would give it. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: Error }

/** Where a run stands, for its progress bar. */
export interface RunProgress {
  done: number
  failed: number
  /** Submitted and not finished: running, or waiting for a slot. */
  open: number
}

/** The first failed job of a `--fail-fast` run, with the input line it came from. */
export class LineFailedError extends Error {
  static override readonly name = 'LineFailedError'
  override readonly name = 'LineFailedError'
  constructor(
    readonly line: number,
    cause: Error,
  ) {
    super(`line ${line} failed (--fail-fast: the other jobs were cancelled): ${cause.message}`, { cause })
  }
}

/** Jobs a run keeps submitted before it waits for outcomes: bounded memory, slots never idle. */
const RUN_WINDOW = 4096

/**
 * Runs one job per input and gives every outcome, in input order: a failed job
 * does not stop the others. With `failFast`, the first failure cancels the rest
 * and rejects with {@link LineFailedError}, naming its line (`lines[i]`).
 *
 * It submits job by job, in a bounded window. Once `map(xs, { settle: true })`
 * exists, the settled case is that call.
 */
export async function runSettled(
  pool: Pool,
  inputs: readonly unknown[],
  options: { lines: readonly number[]; failFast: boolean; onProgress: (progress: RunProgress) => void },
): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array(inputs.length)
  const progress: RunProgress = { done: 0, failed: 0, open: 0 }
  let next = 0
  let failure: LineFailedError | undefined
  let failed: (error: LineFailedError) => void = () => {}
  // No signal per job: thousands of listeners on one signal cost more than the jobs. The caller's
  // pool.close() ends what a --fail-fast run leaves open.
  const stopped = new Promise<never>((_, reject) => {
    failed = reject
  })
  const runOne = async (index: number): Promise<void> => {
    progress.open++
    try {
      outcomes[index] = { ok: true, value: await pool.submit(inputs[index]) }
      progress.done++
    } catch (err) {
      if (failure !== undefined) return
      outcomes[index] = { ok: false, error: err as Error }
      progress.failed++
      if (options.failFast) {
        failure = new LineFailedError(options.lines[index] ?? index + 1, err as Error)
        failed(failure)
      }
    } finally {
      progress.open--
      if (failure === undefined) options.onProgress(progress)
    }
  }
  // Lanes, each taking the next input as its last job ends, keep RUN_WINDOW jobs open.
  const lane = async (): Promise<void> => {
    while (next < inputs.length && failure === undefined) await runOne(next++)
  }
  stopped.catch(() => {})
  const lanes = Promise.all(Array.from({ length: Math.min(RUN_WINDOW, inputs.length) }, lane))
  options.onProgress(progress) // the first window is in flight
  await Promise.race([lanes, stopped])
  return outcomes
}

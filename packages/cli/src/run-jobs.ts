import type { Pool } from '@meshpool/node'

/** One job's outcome, as `Promise.allSettled` would give it. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: Error }

/** Where a run stands, for its progress bar. */
export interface RunProgress {
  done: number
  failed: number
  /** On a node: started, or next in that node's queue. */
  running: number
  /** Submitted and waiting for a slot. */
  queued: number
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

/**
 * Runs one job per input and gives every outcome, in input order: a failed job
 * does not stop the others (a settled imapUnordered). With `failFast`, the
 * first failure cancels the rest and rejects with {@link LineFailedError},
 * naming its line (`lines[i]`).
 */
export async function runSettled(
  pool: Pool,
  inputs: readonly unknown[],
  options: { lines: readonly number[]; failFast: boolean; onProgress: (progress: RunProgress) => void },
): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array(inputs.length)
  const onProgress = ({ done, failed, running, queued }: RunProgress): void =>
    options.onProgress({ done, failed, running, queued })
  for await (const outcome of pool.imapUnordered(inputs, { settle: true, onProgress })) {
    outcomes[outcome.index] = outcome.ok ? { ok: true, value: outcome.value } : { ok: false, error: outcome.error }
    // Leaving the loop cancels the jobs still out.
    if (!outcome.ok && options.failFast) {
      throw new LineFailedError(options.lines[outcome.index] ?? outcome.index + 1, outcome.error)
    }
  }
  return outcomes
}

import type { Pool } from '@meshpool/node'
import { describe, expect, it } from 'vitest'
import { LineFailedError, runSettled } from '../src/run-jobs.js'
import { failureSummary } from '../src/run-output.js'
import { formatSeconds } from '../src/run-progress.js'

/** A pool whose jobs double x, or fail when the params say so: a settled imapUnordered, in completion order. */
const fakePool = {
  async *imapUnordered(
    params: Array<{ x: number; throw?: string }>,
    options: { settle: boolean; onProgress: (p: object) => void },
  ) {
    let done = 0
    let failed = 0
    for (const index of params.map((_, i) => i).reverse()) {
      await new Promise((resolve) => setImmediate(resolve))
      const p = params[index] as { x: number; throw?: string }
      if (p.throw !== undefined) failed++
      else done++
      options.onProgress({ done, failed, running: 0, queued: params.length - done - failed })
      yield p.throw === undefined
        ? { ok: true, value: 2 * p.x, index }
        : { ok: false, error: new TypeError(p.throw), index }
    }
  },
} as unknown as Pool

const inputs = [{ x: 1 }, { x: 2, throw: 'boom' }, { x: 3 }, { x: 4, throw: 'bang' }]
const lines = [1, 2, 4, 5]

describe('meshpool run: every line settles', () => {
  it('gives every outcome in input order when some jobs throw, and counts them', async () => {
    const seen: number[] = []
    const outcomes = await runSettled(fakePool, inputs, {
      lines,
      failFast: false,
      onProgress: (p) => seen.push(p.done + p.failed),
    })
    expect(outcomes.map((o) => (o.ok ? o.value : o.error.message))).toEqual([2, 'boom', 6, 'bang'])
    expect(seen.at(-1)).toBe(4)
    expect(failureSummary(outcomes, lines)).toMatch(/^2 of 4 lines failed: lines 2, 5 .*Line 2: boom$/)
    expect(failureSummary(outcomes.slice(0, 1), lines)).toBeUndefined()
  })

  it('with failFast, rejects at the first failure naming its line in the input file', async () => {
    const run = runSettled(fakePool, inputs, { lines, failFast: true, onProgress: () => {} })
    await expect(run).rejects.toBeInstanceOf(LineFailedError)
    await expect(run).rejects.toThrow(/^line 5 failed \(--fail-fast: the other jobs were cancelled\): bang$/)
  })

  it('lists the first 20 failed lines, then how many more', () => {
    const many = Array.from({ length: 25 }, () => ({ ok: false as const, error: new Error('no') }))
    const summary = failureSummary(
      many,
      many.map((_, i) => i + 1),
    )
    expect(summary).toMatch(/^25 of 25 lines failed: lines 1, 2, .*, 20 and 5 more /)
  })
})

describe('the ETA of the progress bar', () => {
  it("reads '?' while it is unknown (cli-progress passes 'INF' or 'NULL'), not 'NFs'", () => {
    expect(formatSeconds('INF')).toBe('?')
    expect(formatSeconds('NULL')).toBe('?')
    expect(formatSeconds(Number.POSITIVE_INFINITY)).toBe('?')
  })

  it('reads seconds, minutes or hours', () => {
    expect(formatSeconds(0)).toBe('0s')
    expect(formatSeconds(42)).toBe('42s')
    expect(formatSeconds(65)).toBe('1m05s')
    expect(formatSeconds(3 * 3600 + 7 * 60)).toBe('3h07m')
  })
})

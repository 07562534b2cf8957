// What a `pnpm bench` run has measured so far, and how it is reported: each
// figure by its key, the cases that failed, the raw samples (details) and notes;
// the table beside the targets, and bench-results/latest.json.
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { only, quick, RESULTS_DIR, runs, SIZES } from './config.js'
import { withTimeout } from './lib.js'
import { ROWS } from './rows.js'

export const values = new Map()
export const errors = []
export const details = {}
export const notes = []

export function record(key, value) {
  values.set(key, value)
}

export function log(message) {
  process.stdout.write(`  ${message}\n`)
}

/** Runs one case; a failure is reported and the bench goes on (its figures stay missing). */
export async function runCase(letter, what, timeoutMs, body) {
  if (!runs(letter)) return
  const started = performance.now()
  process.stdout.write(`${letter}. ${what}\n`)
  try {
    await withTimeout(body(), timeoutMs, `case ${letter}`)
    log(`(${((performance.now() - started) / 1000).toFixed(1)} s)`)
  } catch (err) {
    const message = err?.stack ?? String(err)
    errors.push({ case: letter, error: message })
    process.stdout.write(`  FAILED: ${message}\n`)
  }
}

/** The table of the figures the run was asked for, and those of them that are missing. */
export function printTable() {
  const wanted = ROWS.filter((row) => runs(row.case))
  const table = wanted.map((row) => {
    const value = values.get(row.key)
    const has = typeof value === 'number' && Number.isFinite(value)
    const met = !has ? 'MISSING' : row.ok === undefined ? '' : row.ok(value) ? 'yes' : 'no'
    return [row.case, row.label, has ? row.fmt(value) : 'n/a', row.target ?? '—', met]
  })
  const head = ['', 'measure', 'value', 'target', 'met']
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)))
  const line = (cells) =>
    `| ${cells.map((c, i) => (i === 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`
  const out = [
    line(head),
    `|${widths.map((w, i) => (i === 2 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`,
  ]
  for (const r of table) out.push(line(r))
  return { text: out.join('\n'), missing: table.filter((r) => r[4] === 'MISSING').map((r) => `${r[0]}: ${r[1]}`) }
}

/** Writes the run, each figure beside its target, with the raw samples, to bench-results/latest.json. */
export function writeResults(startedAt, seconds) {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const json = {
    date: startedAt.toISOString(),
    quick,
    only: only ?? null,
    seconds,
    machine: {
      cpu: cpus()[0]?.model,
      cores: availableParallelism(),
      memoryGiB: totalmem() / 1024 ** 3,
      node: process.version,
      loadAverageAtStart: loadavg(),
    },
    sizes: SIZES,
    rows: ROWS.filter((row) => runs(row.case)).map((row) => {
      const value = values.get(row.key)
      const has = typeof value === 'number' && Number.isFinite(value)
      return {
        key: row.key,
        case: row.case,
        measure: row.label,
        value: has ? value : null,
        unit: row.unit,
        target: row.target ?? null,
        met: has && row.ok !== undefined ? row.ok(value) : null,
      }
    }),
    details,
    notes,
    errors,
  }
  writeFileSync(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`)
}

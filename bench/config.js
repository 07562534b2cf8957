// The settings of one `pnpm bench` run: its arguments, the sizes of the cases
// (`--quick` or full), the constants the cases and the table share, and formatting.
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const argv = process.argv.slice(2).filter((arg) => arg !== '--')
for (const arg of argv) {
  if (arg !== '--quick' && !arg.startsWith('--only=')) {
    process.stderr.write(`bench: unknown argument ${arg}\nusage: pnpm bench [--quick] [--only=a,b,…]\n`)
    process.exit(2)
  }
}
export const quick = argv.includes('--quick')
export const only = argv
  .find((arg) => arg.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',')
export const runs = (letter) => only === undefined || only.includes(letter)

export const MiB = 1024 * 1024
export const SIZES = quick
  ? {
      trivial: [1_000, 2_000],
      sleepJobs: 100,
      rawMs: 300,
      updates: 20,
      bigBytes: 5 * MiB,
      queued: 10_000,
      streamSeconds: 5,
      manyNodes: 10,
      manyJobs: 1_000,
      wideNodes: 5,
    }
  : {
      trivial: [10_000, 100_000],
      sleepJobs: 1_000,
      rawMs: 3_000,
      updates: 200,
      bigBytes: 100 * MiB,
      queued: 1_000_000,
      streamSeconds: 60,
      manyNodes: 100,
      manyJobs: 10_000,
      wideNodes: 20,
    }
export const SLEEP_MS = 10
export const SLOTS = 2
export const IDEAL_S = (SIZES.sleepJobs * SLEEP_MS) / SLOTS / 1000
export const STREAM_INPUTS = 10_000_000
export const FREEZE_LEASE_MS = 2000
export const FREEZE_MAX_ATTEMPTS = 10
export const RAW_WINDOW = 32
export const RAW_WIDE_WINDOW = 1024

export const WORKER = new URL('./worker.js', import.meta.url)
export const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const RESULTS_DIR = join(ROOT, 'bench-results')
export const password = randomBytes(18).toString('base64url')
export const dir = mkdtempSync(join(tmpdir(), 'meshpool-bench-'))

export const fmtInt = (v) => Math.round(v).toLocaleString('en-US')
export const fmtMs = (v) => `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ms`
export const fmtMB = (v) => `${v.toFixed(0)} MB`
export const k = (n) => (n >= 1000 && n % 1000 === 0 ? `${fmtInt(n / 1000)}k` : fmtInt(n))

/** Wall-clock ms with sub-ms resolution, comparable with the worker's (see bench/worker.js). */
export const now = () => performance.timeOrigin + performance.now()

export const range = (n) => Array.from({ length: n }, (_, i) => i)

// The settings of one `pnpm bench` run: its arguments, the sizes of the cases
// (`--quick` or full), the constants the cases and the table share, and formatting.
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const argv = process.argv.slice(2).filter((arg) => arg !== '--')
const USAGE = 'usage: pnpm bench [--quick] [--only=a,b,…] [--nodes=10,100] [--idle=seconds] [--window=jobs]'
for (const arg of argv) {
  if (arg !== '--quick' && !/^--(only|nodes|idle)=/.test(arg)) {
    process.stderr.write(`bench: unknown argument ${arg}\n${USAGE}\n`)
    process.exit(2)
  }
}
const listArg = (name) =>
  argv
    .find((arg) => arg.startsWith(`--${name}=`))
    ?.slice(name.length + 3)
    .split(',')
/** A list of positive integers given as --name=…, or undefined; anything else stops the bench with the usage. */
function integers(name) {
  const list = listArg(name)?.map(Number)
  if (list !== undefined && !list.every((v) => Number.isInteger(v) && v > 0)) {
    process.stderr.write(`bench: --${name} takes positive whole numbers, comma-separated\n${USAGE}\n`)
    process.exit(2)
  }
  return list
}
/** Case i: the numbers of simulated nodes (after the 2-node baseline) and the idle window, instead of the defaults. */
const nodesArg = integers('nodes')
const idleArg = integers('idle')?.[0]
/** Case i: the dispatch maps' `window` (jobs in flight), instead of the pool's default. */
export const windowArg = integers('window')?.[0]
export const quick = argv.includes('--quick')
export const only = listArg('only')
export const runs = (letter) => only === undefined || only.includes(letter)

export const MiB = 1024 * 1024
export const SIZES = quick
  ? {
      trivial: [1_000, 2_000],
      sleepJobs: 100,
      rawMs: 300,
      updates: 20,
      bigBytes: 5 * MiB,
      hugeBytes: 50 * MiB,
      queued: 10_000,
      streamSeconds: 5,
      manyNodes: 10,
      manyJobs: 1_000,
      wideNodes: 5,
      scaleNodes: [2, 10, 30],
      scaleJobs: [1_000, 2_000],
      scaleUpdates: 20,
      scaleIdleS: { default: 3 },
    }
  : {
      trivial: [10_000, 100_000],
      sleepJobs: 1_000,
      rawMs: 3_000,
      updates: 200,
      bigBytes: 100 * MiB,
      hugeBytes: 1024 * MiB,
      queued: 1_000_000,
      streamSeconds: 60,
      manyNodes: 100,
      manyJobs: 10_000,
      wideNodes: 20,
      scaleNodes: [2, 10, 100, 1_000],
      scaleJobs: [10_000, 100_000],
      scaleUpdates: 100,
      scaleIdleS: { default: 20, 1000: 300 },
    }
if (nodesArg !== undefined) SIZES.scaleNodes = [2, ...nodesArg.filter((n) => n !== 2)]
if (idleArg !== undefined) SIZES.scaleIdleS = { default: idleArg }
export const SLEEP_MS = 10
/** Case i: simulated nodes per process (the head takes at most 256 connections from one address). */
export const SIM_NODES_PER_PROCESS = 125
/** Case i: how many of its nodes a simulating process joins at once (see bench/sim-nodes.js). */
export const SIM_JOINS_AT_ONCE = 2
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

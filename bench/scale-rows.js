// The figures of case i (scale.js), in table order: for each number of simulated
// nodes, with the targets of issue 16 at 100 and 1,000 nodes.
import { fmtInt, fmtMB, fmtMs, k, SIM_JOINS_AT_ONCE, SIZES } from './config.js'

const [jobs0, jobs1] = SIZES.scaleJobs
const largest = Math.max(...SIZES.scaleNodes)
const fmtS = (v) => `${(v / 1000).toFixed(1)} s`
const fmtPct = (v) => `${v.toFixed(v < 10 ? 1 : 0)} %`

/** Targets by number of nodes (issue 16): `[target text, test]` per figure. */
const TARGETS = {
  100: {
    share: ['≥ 80 %', (v) => v >= 80],
    capacity: ['≥ 80 %', (v) => v >= 80],
    p99: ['< 250 ms', (v) => v < 250],
    drops: ['0', (v) => v === 0],
  },
  1000: {
    drops: ['0', (v) => v === 0],
    cpu: ['< 10 %', (v) => v < 10],
    rss: ['< 500 MB', (v) => v < 500],
    status: ['< 1 s', (v) => v < 1000],
    dashboard: ['< 1 s', (v) => v < 1000],
  },
}

/** Targets at every size: no job fails, every node joins. */
const ALWAYS = { failed: ['0', (v) => v === 0], unjoined: ['0', (v) => v === 0] }

function row(n, figure, label, unit, fmt) {
  const target = TARGETS[n]?.[figure] ?? ALWAYS[figure]
  return {
    key: `i.${figure}.${n}`,
    case: 'i',
    label,
    unit,
    fmt,
    ...(target === undefined ? {} : { target: target[0], ok: target[1] }),
  }
}

function rowsOf(n) {
  const nodes = `${fmtInt(n)} sim. nodes`
  const dispatch = [
    row(n, 'rate0', `${nodes}: dispatch, ${k(jobs0)} trivial jobs`, 'jobs/s', (v) => `${fmtInt(v)} jobs/s`),
    row(n, 'rate1', `${nodes}: dispatch, ${k(jobs1)} trivial jobs`, 'jobs/s', (v) => `${fmtInt(v)} jobs/s`),
    row(n, 'headcpu', `${nodes}: head CPU per job dispatched`, 'µs', (v) => `${v.toFixed(1)} µs`),
  ]
  if (n === 2) return dispatch
  const idleS = SIZES.scaleIdleS[n] ?? SIZES.scaleIdleS.default
  const rows = [
    row(n, 'join', `${nodes} × 1 in-process slot: all joined (${SIM_JOINS_AT_ONCE} at a time per process)`, 'ms', fmtS),
    ...dispatch,
    row(n, 'share', `${nodes}: dispatch (${k(jobs1)}) ÷ the 2-node rate of i`, '%', (v) => `${v.toFixed(0)} %`),
    row(n, 'capacity', `${nodes}: the head's jobs per CPU-second ÷ with 2 nodes`, '%', (v) => `${v.toFixed(0)} %`),
    row(n, 'p50', `${nodes}: updateWorkers → applied at every node, p50`, 'ms', fmtMs),
    row(n, 'p99', `${nodes}: updateWorkers → applied at every node, p99`, 'ms', fmtMs),
    row(n, 'cpu', `${nodes}: head CPU per idle second (${idleS} s idle), of one core`, '%', fmtPct),
    row(n, 'rss', `${nodes}: head RSS after the idle window`, 'MB', fmtMB),
    row(n, 'unjoined', `${nodes}: nodes that could not join within 10 minutes`, 'nodes', (v) => fmtInt(v)),
    row(n, 'drops', `${nodes}: nodes dropped`, 'nodes', (v) => fmtInt(v)),
    row(n, 'failed', `${nodes}: failed jobs`, 'jobs', (v) => fmtInt(v)),
  ]
  if (n === largest) {
    rows.push(
      row(n, 'statusFirst', `${nodes}: \`meshpool status\` (the whole command), first run`, 'ms', fmtMs),
      row(n, 'status', `${nodes}: \`meshpool status\` (the whole command), median of the next 3`, 'ms', fmtMs),
      row(n, 'dashboard', `${nodes}: dashboard page and its state`, 'ms', fmtMs),
    )
  }
  return rows
}

export const SCALE_ROWS = SIZES.scaleNodes.flatMap(rowsOf)

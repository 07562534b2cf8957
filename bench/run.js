// `pnpm bench` (or `pnpm bench --quick`): meshpool's benchmark suite.
//
// It starts real processes the way a user does (`meshpool head --no-work`,
// `meshpool join … --slots 1`, MESHPOOL_PASSWORD in their environment), uses this
// process (or a small child) as the client through `createPool({ worker, head,
// password })`, measures the cases of issue 4 (a–h) and issue 16 (i, simulated
// nodes over several processes) and prints one table of
// figures beside their targets (k: jobs sharing one value, issue 19); the same goes to bench-results/latest.json.
//
// --quick runs every case briefly and only checks that every number comes out
// (exit 1 when one is missing or NaN), for CI. --only=a,c runs some cases.
// The cases are in mesh-cases.js and stages.js, the figures in rows.js.
import { rmSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os'
import { dir, FREEZE_LEASE_MS, FREEZE_MAX_ATTEMPTS, quick, runs, SIZES } from './config.js'
import { killAllNow, stopAll } from './lib.js'
import { stageMesh } from './mesh-cases.js'
import { errors, notes, printTable, record, runCase, values, writeResults } from './results.js'
import { stageScale } from './scale.js'
import { stageShared } from './share.js'
import { caseRaw, stageBigInput, stageManyNodes, stageQueued } from './stages.js'
import { stageTakeover } from './takeover.js'
import { TAKEOVER_IN_QUICK } from './takeover-rows.js'

let cleaningUp = false
async function cleanup() {
  if (cleaningUp) return
  cleaningUp = true
  await stopAll(2000).catch(() => killAllNow())
  rmSync(dir, { recursive: true, force: true })
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    process.stderr.write(`\nbench: ${signal}: stopping every process it started\n`)
    killAllNow()
    rmSync(dir, { recursive: true, force: true })
    process.exit(130)
  })
}
process.on('exit', () => killAllNow())

const startedAt = new Date()
const wall0 = performance.now()
process.stdout.write(
  `meshpool bench${quick ? ' --quick (short runs: only checks that every figure comes out)' : ''}\n` +
    `${cpus()[0]?.model ?? 'cpu'} × ${availableParallelism()}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB, Node ${process.version}, load average ${loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}\n\n`,
)
let exitCode = 0
try {
  await runCase('c', 'raw libp2p peers (separate processes), configured like meshpool’s: small messages', 120_000, () =>
    caseRaw({ messages: true, bulk: false }),
  )
  if (['a', 'b', 'd', 'e', 'g'].some(runs)) await stageMesh()
  if (runs('g')) await stageQueued()
  if (runs('h') || runs('e')) await stageManyNodes()
  if (runs('i')) await stageScale()
  if (runs('f')) await stageBigInput()
  if (runs('k')) await stageShared()
  if (runs('j') && (!quick || TAKEOVER_IN_QUICK)) await stageTakeover()
  const mesh = values.get('a.large')
  const pipe = values.get('c.pipelined')
  if (mesh !== undefined && pipe !== undefined) record('c.ratio', mesh / pipe)
  const fm = values.get('f.meshpool')
  const fr = values.get('f.raw')
  if (fm !== undefined && fr !== undefined) record('f.ratio', (fm / fr) * 100)
  const fh = values.get('f.hugeMeshpool')
  if (fh !== undefined && fr !== undefined) record('f.hugeRatio', (fh / fr) * 100)
} catch (err) {
  errors.push({ case: '-', error: err?.stack ?? String(err) })
  process.stdout.write(`FAILED: ${err?.stack ?? err}\n`)
} finally {
  await cleanup()
}

const seconds = (performance.now() - wall0) / 1000
const { text, missing } = printTable()
process.stdout.write(`\n${text}\n\n`)
process.stdout.write(
  `Real processes on 127.0.0.1: \`meshpool head --no-work\`, \`meshpool join --slots 1\` nodes, the client in the bench process (g: in a child).\n` +
    `d: the freeze case uses a pool with leaseMs ${FREEZE_LEASE_MS} (default 3000) and maxAttempts ${FREEZE_MAX_ATTEMPTS} (default 3). h: ${SIZES.manyNodes} joinHead nodes in one process, each with its own slot process. i: joinHead nodes with in-process slots, at most 125 per process (bench/sim-nodes.js), on a head with the dashboard on.\n`,
)
for (const note of notes) process.stdout.write(`${note}\n`)
process.stdout.write(`total ${seconds.toFixed(0)} s${quick ? ' (quick)' : ''}\n`)

writeResults(startedAt, seconds)
process.stdout.write(`results: bench-results/latest.json\n`)

if (missing.length > 0 || errors.length > 0) {
  process.stdout.write(
    `\nbench: ${missing.length} figure(s) missing${errors.length > 0 ? `, ${errors.length} case(s) failed` : ''}:\n`,
  )
  for (const m of missing) process.stdout.write(`  missing: ${m}\n`)
  for (const e of errors) process.stdout.write(`  case ${e.case}: ${e.error.split('\n')[0]}\n`)
  exitCode = 1
}
process.exit(exitCode)

// Case i of `pnpm bench`: one real `meshpool head` and 2 to 1,000 simulated nodes
// (sim-nodes.js: real joinHead nodes whose slots run in-process), spread over a few
// processes. Per size: join time, dispatch rate, update latency to every node, the
// head's CPU over an idle window and its memory, `meshpool status` and the dashboard,
// and the nodes dropped. The CPU of the head and of each simulating process is read
// from /proc over each phase, so a figure bounded by the simulation says so.
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { dir, fmtInt, quick, range, SIM_JOINS_AT_ONCE, SIM_NODES_PER_PROCESS, SIZES, windowArg } from './config.js'
import { BENCH_DIR, BIN, quantile, rssMB, sleep, start, startHead, stop } from './lib.js'
import { openPool, updateLatencies } from './pools.js'
import { cpuWindow } from './proc-cpu.js'
import { details, log, notes, record, runCase, values } from './results.js'

/**
 * The simulating processes run at this nice level: on a machine with fewer cores than processes
 * the head gets the CPU it wants first, as on a machine of its own, and the simulation takes
 * the rest (when that is not enough, the notes say so).
 */
const SIM_NICE = 10
/** A process at this share of one core or more counts as saturated. */
const SATURATED = 90

export async function stageScale() {
  const largest = Math.max(...SIZES.scaleNodes)
  for (const n of SIZES.scaleNodes) {
    const idleS = SIZES.scaleIdleS[n] ?? SIZES.scaleIdleS.default
    await runCase('i', `${fmtInt(n)} simulated nodes on one head (idle ${idleS} s)`, timeoutMs(n, idleS), () =>
      caseScale(n, idleS, n === largest),
    )
  }
  const base = values.get('i.rate1.2')
  for (const n of SIZES.scaleNodes) {
    const rate = values.get(`i.rate1.${n}`)
    if (n !== 2 && rate !== undefined && base !== undefined) record(`i.share.${n}`, (rate / base) * 100)
    const cost = values.get(`i.headcpu.${n}`)
    const baseCost = values.get('i.headcpu.2')
    if (n !== 2 && cost !== undefined && baseCost !== undefined) record(`i.capacity.${n}`, (baseCost / cost) * 100)
  }
}

const timeoutMs = (n, idleS) => (idleS + 180 + n * 0.8) * 1000

async function caseScale(n, idleS, largest) {
  const procs = []
  let pool
  const phases = {}
  try {
    // The head's join token, the default secret (a password would cost every client and node its KDF).
    const head = await startHead(join(dir, `scale-${n}.key`), undefined, ['--dashboard-port', '0'])
    procs.push(head)
    const { sims, use, nodes } = await startSims(head, n, procs)
    // The bench itself is the client: its share shows too.
    const watched = [head, ...sims, { name: 'client', pid: process.pid }]
    phases.join = use
    log(`CPU in join: ${shares(use)}`)
    pool = await openPool(head)
    await allSlots(pool, nodes)
    const warm = await pool.map(range(nodes * 20), { settle: true })
    record(`i.failed.${n}`, warm.filter((r) => !r.ok).length)
    phases.dispatch = await measured(watched, 'dispatch', () => dispatch(pool, n))
    // The head's own cost per job, which contention for the 2 cores doesn't change (its rate does).
    const headCpu = phases.dispatch.find((p) => p.name === 'head').cpuSeconds
    record(`i.headcpu.${n}`, (headCpu / SIZES.scaleJobs.reduce((a, b) => a + b, 0)) * 1e6)
    if (n > 2) {
      phases.updates = await measured(watched, 'updates', () => updates(pool, n, nodes))
      phases.idle = await measured(watched, 'idle', () => sleep(idleS * 1000))
      const [idle] = phases.idle
      record(`i.cpu.${n}`, idle.percent)
      record(`i.rss.${n}`, rssMB(head.pid))
      log(`idle ${idleS} s: head CPU ${idle.percent.toFixed(1)} % of a core, RSS ${rssMB(head.pid).toFixed(0)} MB`)
      if (largest) await answers(head, n, nodes)
    }
    const drops = dropped(head, sims)
    record(`i.drops.${n}`, drops.count)
    if (drops.count > 0) notes.push(`i: ${n} nodes: ${drops.count} dropped (${drops.examples.join('; ')})`)
    saturation(n, phases)
    details[`i${n}`] = { nodes: n, processes: sims.length, idleS, phases }
    // CI's check (--quick): every job of the 30 nodes ran. A full run gives the count in the table.
    const failed = values.get(`i.failed.${n}`)
    if (quick && failed > 0) throw new Error(`${failed} job(s) failed with ${n} nodes`)
  } finally {
    await pool?.close().catch(() => {})
    await stop(procs, 10_000)
  }
}

/** Starts the simulating processes, each dialling from a loopback address of its own; records the join time. */
async function startSims(head, n, procs) {
  const count = Math.max(Math.min(n, 2), Math.ceil(n / SIM_NODES_PER_PROCESS))
  const t0 = performance.now()
  const sims = []
  for (let p = 0, first = 0; p < count; p++) {
    const size = Math.floor(n / count) + (p < n % count ? 1 : 0)
    const source = `127.0.0.${11 + p}`
    const args = [
      join(BENCH_DIR, 'sim-nodes.js'),
      head.address,
      String(size),
      String(first),
      source,
      String(SIM_JOINS_AT_ONCE),
    ]
    const sim = start(`sim-${p}`, args, { MESHPOOL_TOKEN: head.token }, { nice: SIM_NICE })
    procs.push(sim)
    sims.push(sim)
    first += size
  }
  const window = cpuWindow([head, ...sims, { name: 'client', pid: process.pid }])
  const joined = await Promise.all(
    sims.map((sim) => sim.waitForLine(/^joined (\d+) in \d+ ms, (\d+) retries$/, 660_000)),
  )
  const ms = performance.now() - t0
  const retries = joined.reduce((sum, [, , r]) => sum + Number(r), 0)
  const nodes = joined.reduce((sum, [, j]) => sum + Number(j), 0)
  record(`i.join.${n}`, ms)
  record(`i.unjoined.${n}`, n - nodes)
  log(
    `${fmtInt(nodes)} of ${fmtInt(n)} nodes in ${count} processes joined after ${fmtInt(ms)} ms (${retries} joins retried)`,
  )
  if (nodes < n) notes.push(`i: ${n} nodes: ${n - nodes} could not join within 10 minutes (${firstGaveUp(sims)})`)
  if (retries > 0) {
    const why = new Set(
      sims.flatMap((sim) =>
        sim
          .output()
          .split('\n')
          .filter((line) => line.startsWith('retried after: '))
          .map((line) => line.slice('retried after: '.length).replace(/\/p2p\/\w+|:\d{4,5}\b/g, '')),
      ),
    )
    notes.push(`i: ${n} nodes: ${retries} joins failed at first and were tried again (${[...why].join('; ')})`)
  }
  return { sims, use: window.end(), nodes }
}

function firstGaveUp(sims) {
  for (const sim of sims) {
    const line = sim
      .output()
      .split('\n')
      .find((l) => l.startsWith('gave up on '))
    if (line !== undefined) return line
  }
  return ''
}

async function allSlots(pool, n) {
  const deadline = Date.now() + 60_000
  let workers = await pool.workersCount()
  while (workers < n && Date.now() < deadline) {
    await sleep(200)
    workers = await pool.workersCount()
  }
  if (workers < n) throw new Error(`only ${workers} of ${n} slots after 60 s`)
}

/** Runs `body`, returning the CPU use of each watched process over it (also logged). */
async function measured(procs, phase, body) {
  const window = cpuWindow(procs)
  await body()
  const use = window.end()
  log(`CPU in ${phase}: ${shares(use)}`)
  return use
}

/** `head 12 % (+3 % waiting), sim-0 40 % (+30 % waiting), …: ours 110 %, the machine's 190 % of 200 %` (waiting: for a CPU). */
function shares(use) {
  const ours = use.filter((p) => p.name !== 'machine')
  const all = ours.reduce((sum, p) => sum + p.percent, 0)
  const machine = use.find((p) => p.name === 'machine')?.percent ?? Number.NaN
  const each = ours.map((p) => `${p.name} ${p.percent.toFixed(0)} % (+${p.waiting.toFixed(0)} % waiting)`)
  return `${each.join(', ')}: ours ${all.toFixed(0)} %, the machine's ${machine.toFixed(0)} % of ${availableParallelism() * 100} % (of one core)`
}

/** Busy, or runnable and waiting for a CPU, nearly all the time: wanting more than it got. */
const saturated = (p) => p.percent + p.waiting >= SATURATED

/** Trivial jobs, settled: a failed one is counted, not thrown. */
async function dispatch(pool, n) {
  let failed = 0
  for (const [i, jobs] of SIZES.scaleJobs.entries()) {
    const t0 = performance.now()
    const out = await pool.map(range(jobs), { settle: true, ...(windowArg === undefined ? {} : { window: windowArg }) })
    const seconds = (performance.now() - t0) / 1000
    const bad = out.filter((r, index) => !r.ok || r.value !== index)
    failed += bad.length
    record(`i.rate${i}.${n}`, jobs / seconds)
    const first = bad.find((r) => !r.ok)?.error
    log(
      `${fmtInt(jobs)} jobs in ${seconds.toFixed(2)} s: ${fmtInt(jobs / seconds)} jobs/s${bad.length > 0 ? `, ${bad.length} failed (${first?.name}: ${first?.message})` : ''}`,
    )
  }
  record(`i.failed.${n}`, values.get(`i.failed.${n}`) + failed)
}

/** Update latency to every node that joined (`nodes` of the `n`); read-back jobs that fail count as failed. */
async function updates(pool, n, nodes) {
  const { latencies, failed } = await updateLatencies(pool, nodes, SIZES.scaleUpdates, { sleepMs: 20, settle: true })
  record(`i.failed.${n}`, (values.get(`i.failed.${n}`) ?? 0) + failed)
  record(`i.p50.${n}`, quantile(latencies, 0.5))
  record(`i.p99.${n}`, quantile(latencies, 0.99))
  log(
    `${SIZES.scaleUpdates} updates: p50 ${quantile(latencies, 0.5).toFixed(1)} ms, p99 ${quantile(latencies, 0.99).toFixed(1)} ms`,
  )
}

/** `meshpool status` (the whole command, as a user runs it) and the dashboard's page and state. */
async function answers(head, n, nodes) {
  // A user runs it again and again: a first run whose modules Node has not compiled before (after a
  // build that changed them) is slower, as Node keeps compiled code for the next runs, so the first
  // run is reported on its own.
  const runs = []
  for (let i = 0; i < STATUS_RUNS; i++) runs.push(await statusMs(head, nodes))
  const again = runs.slice(1).sort((a, b) => a - b)
  const url = /^dashboard at (http:\/\/\S+)/m.exec(head.output())?.[1]
  if (url === undefined) throw new Error('the head printed no dashboard address')
  const t1 = performance.now()
  const page = await fetch(url)
  const state = await (await fetch(new URL('/api/state', url))).json()
  const webMs = performance.now() - t1
  if (!page.ok || state.nodes.length !== nodes) {
    throw new Error(`the dashboard shows ${state.nodes.length} of ${nodes} nodes`)
  }
  record(`i.statusFirst.${n}`, runs[0])
  record(`i.status.${n}`, quantile(again, 0.5))
  record(`i.dashboard.${n}`, webMs)
  log(
    `meshpool status: first ${fmtInt(runs[0])} ms, then ${again.map(fmtInt).join(', ')} ms; dashboard page and state: ${fmtInt(webMs)} ms`,
  )
}

/** `meshpool status` runs: the first, then the median of the others. */
const STATUS_RUNS = 4

/** One whole `meshpool status` run, in ms; it must list every node. */
async function statusMs(head, nodes) {
  const t0 = performance.now()
  const status = start('status', [BIN, 'status', head.address], { MESHPOOL_TOKEN: head.token })
  const code = await status.exited
  const ms = performance.now() - t0
  if (code !== 0 || !status.output().startsWith(`${nodes} node(s)`)) {
    throw new Error(`meshpool status (exit ${code}) did not list ${nodes} nodes:\n${status.output().slice(0, 2000)}`)
  }
  return ms
}

/** Nodes that lost the head in this case: the head's `left` lines before the case stops them, or what the nodes saw. */
function dropped(head, sims) {
  const left = head
    .output()
    .split('\n')
    .filter((line) => /^node \S+ \(\S+\) left/.test(line))
  const seen = sims.reduce((sum, sim) => sum + sim.count(/^dropped /), 0)
  return { count: Math.max(left.length, seen), examples: left.slice(0, 3) }
}

/** Notes each phase in which a simulating process (or the head) ran near a full core. */
function saturation(n, phases) {
  for (const [phase, use] of Object.entries(phases)) {
    const head = use.find((p) => p.name === 'head')
    const busy = use.filter((p) => p.name.startsWith('sim-') && saturated(p))
    if (busy.length > 0) {
      notes.push(
        `i: ${n} nodes, ${phase}: ${busy.map((s) => `${s.name} (pid ${s.pid}) busy ${s.percent.toFixed(0)} % and waiting for a CPU ${s.waiting.toFixed(0)} %`).join(', ')} of the time: the simulation saturated before the head did (${shares(use)}); that phase's figures are bounded by the simulation`,
      )
    } else if (saturated(head)) {
      notes.push(`i: ${n} nodes, ${phase}: the head was saturated (${shares(use)})`)
    }
  }
}

// `pnpm bench` (or `pnpm bench --quick`): meshpool's benchmark suite.
//
// It starts real processes the way a user does (`meshpool head --no-work`,
// `meshpool join … --slots 1`, MESHPOOL_PASSWORD in their environment), uses this
// process (or a small child) as the client through `createPool({ worker, head,
// password })`, measures the cases of issue 4 (a–h) and prints one table of
// figures beside their targets; the same goes to bench-results/latest.json.
//
// --quick runs every case briefly and only checks that every number comes out
// (exit 1 when one is missing or NaN), for CI. --only=a,c runs some cases.
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createPool } from 'meshpool'
import {
  BENCH_DIR,
  joinNode,
  killAllNow,
  quantile,
  rssMB,
  sleep,
  start,
  startHead,
  stop,
  stopAll,
  watch,
  withTimeout,
} from './lib.js'

const argv = process.argv.slice(2).filter((arg) => arg !== '--')
for (const arg of argv) {
  if (arg !== '--quick' && !arg.startsWith('--only=')) {
    process.stderr.write(`bench: unknown argument ${arg}\nusage: pnpm bench [--quick] [--only=a,b,…]\n`)
    process.exit(2)
  }
}
const quick = argv.includes('--quick')
const only = argv
  .find((arg) => arg.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',')
const runs = (letter) => only === undefined || only.includes(letter)

const MiB = 1024 * 1024
const SIZES = quick
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
const SLEEP_MS = 10
const SLOTS = 2
const IDEAL_S = (SIZES.sleepJobs * SLEEP_MS) / SLOTS / 1000
const STREAM_INPUTS = 10_000_000
const FREEZE_LEASE_MS = 2000
const FREEZE_MAX_ATTEMPTS = 10
const RAW_WINDOW = 32
const RAW_WIDE_WINDOW = 1024

const WORKER = new URL('./worker.js', import.meta.url)
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const RESULTS_DIR = join(ROOT, 'bench-results')
const password = randomBytes(18).toString('base64url')
const dir = mkdtempSync(join(tmpdir(), 'meshpool-bench-'))

const fmtInt = (v) => Math.round(v).toLocaleString('en-US')
const fmtMs = (v) => `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ms`
const fmtMB = (v) => `${v.toFixed(0)} MB`
const n0 = SIZES.trivial[0]
const n1 = SIZES.trivial[1]
const k = (n) => (n >= 1000 && n % 1000 === 0 ? `${fmtInt(n / 1000)}k` : fmtInt(n))

/** Every figure the bench must produce, in table order. */
const ROWS = [
  {
    key: 'a.small',
    case: 'a',
    label: `${k(n0)} trivial jobs, head + 2 nodes × 1 slot`,
    unit: 'jobs/s',
    fmt: (v) => `${fmtInt(v)} jobs/s`,
    target: '≥ 20,000 jobs/s',
    ok: (v) => v >= 20_000,
  },
  {
    key: 'a.large',
    case: 'a',
    label: `${k(n1)} trivial jobs, head + 2 nodes × 1 slot`,
    unit: 'jobs/s',
    fmt: (v) => `${fmtInt(v)} jobs/s`,
    target: '≥ 20,000 jobs/s',
    ok: (v) => v >= 20_000,
  },
  {
    key: 'b.wall',
    case: 'b',
    label: `${fmtInt(SIZES.sleepJobs)} jobs of ${SLEEP_MS} ms on 2 slots (ideal ${IDEAL_S.toFixed(2)} s)`,
    unit: 's',
    fmt: (v) => `${v.toFixed(2)} s`,
    target: `≤ ${(IDEAL_S * 1.02).toFixed(2)} s`,
    ok: (v) => v <= IDEAL_S * 1.02,
  },
  {
    key: 'b.floor',
    case: 'b',
    label: `the same sleeps without meshpool (2 loops of ${SIZES.sleepJobs / 2} × sleep(${SLEEP_MS}) in one process)`,
    unit: 's',
    fmt: (v) => `${v.toFixed(2)} s`,
  },
  {
    key: 'c.rr',
    case: 'c',
    label: 'raw libp2p: request/response, 64 B, one stream',
    unit: 'msg/s',
    fmt: (v) => `${fmtInt(v)} msg/s`,
  },
  {
    key: 'c.pipelined',
    case: 'c',
    label: `raw libp2p: pipelined 64 B, ${RAW_WINDOW} in flight`,
    unit: 'msg/s',
    fmt: (v) => `${fmtInt(v)} msg/s`,
  },
  {
    key: 'c.pipelinedWide',
    case: 'c',
    label: `raw libp2p: pipelined 64 B, ${fmtInt(RAW_WIDE_WINDOW)} in flight`,
    unit: 'msg/s',
    fmt: (v) => `${fmtInt(v)} msg/s`,
  },
  {
    key: 'c.ratio',
    case: 'c',
    label: `meshpool jobs/s (a, ${k(n1)}) ÷ raw pipelined (${RAW_WINDOW})`,
    unit: 'ratio',
    fmt: (v) => `${v.toFixed(2)} ×`,
  },
  {
    key: 'd.kill',
    case: 'd',
    label: 'SIGKILL of a node → its job running elsewhere',
    unit: 'ms',
    fmt: fmtMs,
    target: '< 100 ms',
    ok: (v) => v < 100,
  },
  {
    key: 'd.freeze',
    case: 'd',
    label: `SIGSTOP of a node → job reassigned (leaseMs ${FREEZE_LEASE_MS}, maxAttempts ${FREEZE_MAX_ATTEMPTS})`,
    unit: 'ms',
    fmt: fmtMs,
    target: '< 3,000 ms',
    ok: (v) => v < 3000,
  },
  {
    key: 'e.p50',
    case: 'e',
    label: `updateWorkers → applied at every idle slot, p50 (${SIZES.updates} updates, 2 nodes × 1 slot)`,
    unit: 'ms',
    fmt: fmtMs,
    target: '< 5 ms',
    ok: (v) => v < 5,
  },
  {
    key: 'e.p99',
    case: 'e',
    label: 'updateWorkers → applied at every idle slot, p99',
    unit: 'ms',
    fmt: fmtMs,
  },
  {
    key: 'e.p50wide',
    case: 'e',
    label: `updateWorkers → applied at every idle slot, p50 (${SIZES.updates} updates, ${SIZES.wideNodes} nodes × 1 slot)`,
    unit: 'ms',
    fmt: fmtMs,
  },
  {
    key: 'e.p99wide',
    case: 'e',
    label: `updateWorkers → applied at every idle slot, p99 (${SIZES.wideNodes} nodes)`,
    unit: 'ms',
    fmt: fmtMs,
  },
  {
    key: 'f.meshpool',
    case: 'f',
    label: `one job with a ${SIZES.bigBytes / MiB} MiB Uint8Array input, end to end`,
    unit: 'MiB/s',
    fmt: (v) => `${v.toFixed(1)} MiB/s`,
  },
  {
    key: 'f.raw',
    case: 'f',
    label: `raw libp2p stream, ${SIZES.bigBytes / MiB} MiB in 1 MiB chunks`,
    unit: 'MiB/s',
    fmt: (v) => `${v.toFixed(1)} MiB/s`,
  },
  {
    key: 'f.ratio',
    case: 'f',
    label: 'meshpool ÷ raw stream',
    unit: '%',
    fmt: (v) => `${v.toFixed(0)} %`,
    target: '≥ 60 %',
    ok: (v) => v >= 60,
  },
  {
    key: 'g.headIdle',
    case: 'g',
    label: 'head RSS, no jobs',
    unit: 'MB',
    fmt: fmtMB,
  },
  {
    key: 'g.headQueued',
    case: 'g',
    label: `head RSS with ${fmtInt(SIZES.queued)} queued jobs (no nodes)`,
    unit: 'MB',
    fmt: fmtMB,
    target: '< 300 MB',
    ok: (v) => v < 300,
  },
  {
    key: 'g.queueSeconds',
    case: 'g',
    label: `time to queue ${fmtInt(SIZES.queued)} jobs (imapUnordered in ${Math.ceil(SIZES.queued / 250_000)} pool(s) of ≤ 250k, see notes)`,
    unit: 's',
    fmt: (v) => `${v.toFixed(1)} s`,
  },
  {
    key: 'g.streamed',
    case: 'g',
    label: `imapUnordered over lazy inputs (of ${fmtInt(STREAM_INPUTS)}) in ${SIZES.streamSeconds} s: done`,
    unit: 'jobs',
    fmt: (v) => `${fmtInt(v)} jobs`,
  },
  {
    key: 'g.clientStart',
    case: 'g',
    label: 'client RSS while streaming: start',
    unit: 'MB',
    fmt: fmtMB,
  },
  { key: 'g.clientPeak', case: 'g', label: 'client RSS while streaming: peak', unit: 'MB', fmt: fmtMB },
  { key: 'g.clientEnd', case: 'g', label: 'client RSS while streaming: end', unit: 'MB', fmt: fmtMB },
  {
    key: 'g.clientGrowth',
    case: 'g',
    label: 'client RSS growth, first quarter → end',
    unit: '%',
    fmt: (v) => `${v >= 0 ? '+' : ''}${v.toFixed(1)} %`,
    target: 'flat (< +10 %)',
    ok: (v) => v < 10,
  },
  {
    key: 'h.join',
    case: 'h',
    label: `${SIZES.manyNodes} nodes × 1 slot (joinHead in one process): all joined`,
    unit: 'ms',
    fmt: fmtMs,
  },
  {
    key: 'h.rate',
    case: 'h',
    label: `dispatch with ${SIZES.manyNodes} nodes, ${k(SIZES.manyJobs)} trivial jobs`,
    unit: 'jobs/s',
    fmt: (v) => `${fmtInt(v)} jobs/s`,
  },
]

const values = new Map()
const errors = []
const details = {}
const notes = []

function record(key, value) {
  values.set(key, value)
}

function log(message) {
  process.stdout.write(`  ${message}\n`)
}

/** Runs one case; a failure is reported and the bench goes on (its figures stay missing). */
/**
 * Sends `count` updates 15 ms apart to a warmed pool whose `slots` slots are idle,
 * then reads back when each slot's handleUpdate ran (whoami jobs on every slot).
 * Per update: the time until the last slot applied it.
 */
async function updateLatencies(pool, slots, count) {
  const sentAt = []
  for (let i = 0; i < count; i++) {
    sentAt[i] = now()
    await pool.updateWorkers({ i })
    await sleep(15)
  }
  await sleep(300)
  const applied = new Map()
  for (let round = 0; round < 20 && applied.size < slots; round++) {
    const out = await pool.map(range(Math.max(300, slots * 20)).map(() => ({ whoami: true })))
    for (const r of out) applied.set(r.node, [...(applied.get(r.node) ?? []), ...r.updates])
  }
  if (applied.size < slots) throw new Error(`could read back only ${applied.size} of ${slots} slots`)
  const latencies = []
  let missing = 0
  for (let i = 0; i < count; i++) {
    let last = Number.NEGATIVE_INFINITY
    for (const updates of applied.values()) {
      const hit = updates.find(([index]) => index === i)
      if (hit === undefined) missing++
      else last = Math.max(last, hit[1])
    }
    if (Number.isFinite(last)) latencies.push(last - sentAt[i])
  }
  if (missing > 0) throw new Error(`${missing} (update, slot) pairs never applied`)
  return { latencies, applied }
}

async function runCase(letter, what, timeoutMs, body) {
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

/** Wall-clock ms with sub-ms resolution, comparable with the worker's (see bench/worker.js). */
const now = () => performance.timeOrigin + performance.now()

const range = (n) => Array.from({ length: n }, (_, i) => i)

function openPool(head, options = {}) {
  return createPool({ worker: WORKER, head: head.address, password, ...options })
}

/**
 * Runs whoami jobs until every given node has loaded this pool's worker (so timings
 * leave out the first load). Many at once: the head hands a node as many jobs as it
 * has asked for (its credit may be dozens), so a few jobs may all land on one node.
 */
async function warmOn(pool, peerIds, { sleepMs = 0, jobs = 300 } = {}) {
  const seen = new Set()
  for (let round = 0; round < 20; round++) {
    const out = await pool.map(range(jobs).map(() => ({ whoami: true, sleepMs })))
    for (const r of out) seen.add(r.node)
    if (peerIds.every((id) => seen.has(id))) return
    await sleep(50)
  }
  throw new Error(`warm-up never reached every node (saw ${[...seen].join(', ')}; wanted ${peerIds.join(', ')})`)
}

/** Waits until the worker logs that job `x` started (attempt 1), returning the log record. */
async function startOf(file, x, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (existsSync(file)) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (line === '') continue
        const rec = JSON.parse(line)
        if (rec.x === x) return rec
      }
    }
    await sleep(2)
  }
  throw new Error(`job ${x} did not start within ${timeoutMs} ms`)
}

// ---------------------------------------------------------------------------- c: the raw limit

async function caseRaw({ messages, bulk }) {
  const server = start('raw-server', [join(BENCH_DIR, 'raw-peer.js'), 'server'], { MESHPOOL_PASSWORD: password })
  try {
    const [, address] = await server.waitForLine(/^listening (\S+)$/)
    const options = {
      rrMs: messages ? SIZES.rawMs : 0,
      pipelinedMs: messages ? SIZES.rawMs : 0,
      window: RAW_WINDOW,
      wideWindow: RAW_WIDE_WINDOW,
      bulkBytes: bulk ? SIZES.bigBytes : 0,
    }
    const client = start('raw-client', [join(BENCH_DIR, 'raw-peer.js'), 'client', address, JSON.stringify(options)], {
      MESHPOOL_PASSWORD: password,
    })
    const [, json] = await client.waitForLine(/^result (.*)$/, 120_000)
    await stop([client])
    const raw = JSON.parse(json)
    details.raw = raw
    if (raw.requestResponse !== undefined) {
      record('c.rr', raw.requestResponse.perSecond)
      record('c.pipelined', raw.pipelined.perSecond)
      record('c.pipelinedWide', raw.pipelinedWide.perSecond)
      log(
        `request/response ${fmtInt(raw.requestResponse.perSecond)}/s; pipelined ${fmtInt(raw.pipelined.perSecond)}/s (${RAW_WINDOW} in flight), ${fmtInt(raw.pipelinedWide.perSecond)}/s (${RAW_WIDE_WINDOW})`,
      )
    }
    if (raw.bulk !== undefined) {
      record('f.raw', raw.bulk.mibPerSecond)
      log(`bulk ${(raw.bulk.bytes / MiB).toFixed(0)} MiB: ${raw.bulk.mibPerSecond.toFixed(1)} MiB/s`)
    }
  } finally {
    await stop([server])
  }
}

// ---------------------------------------------------------------------------- stage 1: a head and two nodes

async function stageMesh() {
  const procs = []
  const pools = []
  try {
    const head = watch(await startHead(join(dir, 'mesh.key'), password))
    procs.push(head)
    const nodes = await Promise.all([
      joinNode(head.address, password, 1, 'bench-node-1'),
      joinNode(head.address, password, 1, 'bench-node-2'),
    ])
    procs.push(...nodes)
    for (const node of nodes) watch(node)
    const peerIds = nodes.map((node) => node.peerId)
    log(`head and 2 nodes (1 slot each) up: ${head.address}`)

    if (runs('a')) {
      const pool = await openPool(head)
      pools.push(pool)
      await warmOn(pool, peerIds)
      await pool.map(range(1000))

      await runCase(
        'a',
        'trivial jobs over a head and two nodes (1 slot each: 2 cores)',
        quick ? 60_000 : 180_000,
        async () => {
          details.a = []
          for (const [i, n] of SIZES.trivial.entries()) {
            const t0 = performance.now()
            const out = await pool.map(range(n))
            const seconds = (performance.now() - t0) / 1000
            if (out.length !== n || out[n - 1] !== n - 1 || out[n >> 1] !== n >> 1) throw new Error('wrong results')
            record(i === 0 ? 'a.small' : 'a.large', n / seconds)
            details.a.push({ jobs: n, seconds })
            log(`${fmtInt(n)} jobs in ${seconds.toFixed(2)} s: ${fmtInt(n / seconds)} jobs/s`)
          }
        },
      )

      await pool.close()
    }

    await runCase('b', `${SIZES.sleepJobs} jobs of ${SLEEP_MS} ms on two slots`, 60_000, async () => {
      // Node's timers alone: what two slots of sleeping jobs would take with no pool at all.
      const f0 = performance.now()
      await Promise.all(
        range(SLOTS).map(async () => {
          for (let i = 0; i < SIZES.sleepJobs / SLOTS; i++) await sleep(SLEEP_MS)
        }),
      )
      const floor = (performance.now() - f0) / 1000
      record('b.floor', floor)
      // A fresh pool, warmed with jobs of the same length: the nodes size their prefetch by the
      // pool's recent job times, so a's trivial jobs (or a warm-up of them) would skew it.
      const pool = await openPool(head)
      pools.push(pool)
      await warmOn(pool, peerIds, { sleepMs: SLEEP_MS, jobs: 40 })
      const t0 = performance.now()
      const out = await pool.map(range(SIZES.sleepJobs).map(() => ({ sleepMs: SLEEP_MS })))
      const seconds = (performance.now() - t0) / 1000
      if (out.length !== SIZES.sleepJobs) throw new Error('wrong results')
      const perNode = peerIds.map((id) => out.filter((node) => node === id).length)
      record('b.wall', seconds)
      details.b = {
        jobs: SIZES.sleepJobs,
        sleepMs: SLEEP_MS,
        slots: SLOTS,
        seconds,
        idealSeconds: IDEAL_S,
        timerFloorSeconds: floor,
        jobsPerNode: perNode,
      }
      log(
        `${seconds.toFixed(3)} s (ideal ${IDEAL_S.toFixed(2)} s; the same sleeps with no pool: ${floor.toFixed(3)} s); jobs per node: ${perNode.join(' / ')}`,
      )
      await pool.close()
    })

    await runCase('e', `updateWorkers → applied at every idle slot (${SIZES.updates} updates)`, 120_000, async () => {
      const pool = await openPool(head)
      pools.push(pool)
      await warmOn(pool, peerIds)
      await sleep(200)
      const { latencies, applied } = await updateLatencies(pool, peerIds.length, SIZES.updates)
      record('e.p50', quantile(latencies, 0.5))
      record('e.p99', quantile(latencies, 0.99))
      details.e = { updates: SIZES.updates, slots: applied.size, latenciesMs: latencies }
      log(
        `p50 ${quantile(latencies, 0.5).toFixed(2)} ms, p99 ${quantile(latencies, 0.99).toFixed(2)} ms, max ${Math.max(...latencies).toFixed(2)} ms`,
      )
      await pool.close()
    })

    await runCase(
      'g',
      `client memory while imapUnordered streams lazy inputs for ${SIZES.streamSeconds} s`,
      (SIZES.streamSeconds + 60) * 1000,
      async () => {
        const client = start(
          'stream-client',
          [join(BENCH_DIR, 'stream-client.js'), head.address, String(SIZES.streamSeconds), String(STREAM_INPUTS)],
          { MESHPOOL_PASSWORD: password },
        )
        procs.push(client)
        await client.waitForLine(/^pool ready$/)
        const t0 = performance.now()
        const samples = []
        while (client.count(/^streamed /) === 0) {
          const mb = rssMB(client.pid)
          if (Number.isFinite(mb)) samples.push([Math.round(performance.now() - t0), mb])
          if (client.child.exitCode !== null) throw new Error(`stream client exited:\n${client.output()}`)
          await sleep(250)
        }
        const [, done, seconds] = await client.waitForLine(/^streamed (\d+) in ([\d.]+) s/)
        await client.exited
        if (samples.length < 4) throw new Error('too few memory samples')
        const mbs = samples.map(([, mb]) => mb)
        const quarter = samples.find(([t]) => t >= (samples.at(-1)[0] * 1) / 4)[1]
        const end = mbs.at(-1)
        record('g.streamed', Number(done))
        record('g.clientStart', mbs[0])
        record('g.clientPeak', Math.max(...mbs))
        record('g.clientEnd', end)
        record('g.clientGrowth', ((end - quarter) / quarter) * 100)
        details.gStream = { done: Number(done), seconds: Number(seconds), rssSamplesMs_MB: samples }
        const curve = []
        for (let i = 0; i <= 10; i++) curve.push(mbs[Math.min(mbs.length - 1, Math.round((i * (mbs.length - 1)) / 10))])
        notes.push(
          `g: client RSS over the ${SIZES.streamSeconds} s run, at each tenth (MB): ${curve.map((v) => v.toFixed(0)).join(' ')}; ${fmtInt(Number(done))} of ${fmtInt(STREAM_INPUTS)} inputs went through (${fmtInt(Number(done) / Number(seconds))} jobs/s), then the loop stopped on the time limit`,
        )
        log(
          `${fmtInt(Number(done))} jobs in ${Number(seconds).toFixed(1)} s; RSS start ${mbs[0].toFixed(0)} MB, peak ${Math.max(...mbs).toFixed(0)} MB, end ${end.toFixed(0)} MB`,
        )
      },
    )

    await runCase('d', 'recovery: SIGKILL of a node, SIGSTOP of a node', 90_000, async () => {
      // Kill: a job that sleeps on its first attempt; kill the node running it.
      const killLog = join(dir, 'kill-starts.jsonl')
      const pool = await openPool(head, { init: { startLog: killLog } })
      pools.push(pool)
      await warmOn(pool, peerIds)
      const killed = pool.submit({ sleepFirstMs: 60_000, x: 1 })
      const first = await startOf(killLog, 1)
      const victim = nodes.find((node) => node.peerId === first.node)
      if (victim === undefined) throw new Error(`job 1 started on an unknown node ${first.node}`)
      victim.expectDeath = true
      const killedAt = now()
      victim.child.kill('SIGKILL')
      const again = await killed
      if (again.attempt < 2 || again.node === victim.peerId)
        throw new Error(`unexpected rerun ${JSON.stringify(again)}`)
      record('d.kill', again.startedAt - killedAt)
      log(
        `SIGKILL → running on the other node after ${(again.startedAt - killedAt).toFixed(1)} ms (attempt ${again.attempt})`,
      )
      await pool.close()
      await stop([victim])
      victim.signalGroup('SIGKILL')

      // Freeze: a third node joins; a pool with leaseMs 2000; SIGSTOP the node (and its slot) running the job.
      const third = await joinNode(head.address, password, 1, 'bench-node-3')
      procs.push(third)
      const alive = nodes.filter((node) => node !== victim).concat(third)
      const freezeLog = join(dir, 'freeze-starts.jsonl')
      // maxAttempts 10: the head may lease the expired job to the frozen node again (it still has
      // credit), each time burning an attempt; with the default 3 the job can fail outright.
      const frozenPool = await openPool(head, {
        init: { startLog: freezeLog },
        leaseMs: FREEZE_LEASE_MS,
        maxAttempts: FREEZE_MAX_ATTEMPTS,
      })
      pools.push(frozenPool)
      await warmOn(
        frozenPool,
        alive.map((node) => node.peerId),
      )
      const frozenJob = frozenPool.submit({ sleepFirstMs: 60_000, x: 2 })
      const second = await startOf(freezeLog, 2)
      const frozen = alive.find((node) => node.peerId === second.node)
      if (frozen === undefined) throw new Error(`job 2 started on an unknown node ${second.node}`)
      const stoppedAt = now()
      frozen.signalGroup('SIGSTOP')
      frozen.frozen = true
      const moved = await frozenJob
      if (moved.attempt < 2 || moved.node === frozen.peerId)
        throw new Error(`unexpected rerun ${JSON.stringify(moved)}`)
      record('d.freeze', moved.startedAt - stoppedAt)
      if (moved.attempt > 2) {
        notes.push(
          `d: after the SIGSTOP the job ran elsewhere only on attempt ${moved.attempt}: its expired lease went back to the frozen node ${moved.attempt - 2} more time(s)`,
        )
      }
      log(
        `SIGSTOP → running on another node after ${(moved.startedAt - stoppedAt).toFixed(0)} ms (leaseMs ${FREEZE_LEASE_MS}, attempt ${moved.attempt})`,
      )
      details.d = { kill: again, killedAt, freeze: moved, stoppedAt, leaseMs: FREEZE_LEASE_MS }
      await frozenPool.close()
    })
  } finally {
    await Promise.allSettled(pools.map((pool) => pool.close()))
    await stop(procs)
  }
}

// ---------------------------------------------------------------------------- stage 2: g, a head holding queued jobs

async function stageQueued() {
  await runCase('g', `head memory with ${fmtInt(SIZES.queued)} queued jobs`, quick ? 60_000 : 240_000, async () => {
    const procs = []
    try {
      const head = await startHead(join(dir, 'queue.key'), password)
      procs.push(head)
      await sleep(500)
      const idle = rssMB(head.pid)
      record('g.headIdle', idle)
      const client = start('queue-client', [join(BENCH_DIR, 'queue-client.js'), head.address, String(SIZES.queued)], {
        MESHPOOL_PASSWORD: password,
      })
      procs.push(client)
      let peak = idle
      const sampler = setInterval(() => {
        const mb = rssMB(head.pid)
        if (mb > peak) peak = mb
      }, 100)
      try {
        const [, ms, poolCount] = await client.waitForLine(
          /^queued \d+ in (\d+) ms over (\d+) pools$/,
          quick ? 55_000 : 230_000,
        )
        // The head has every job; let its heap settle, then read its resident memory.
        await sleep(1000)
        const held = rssMB(head.pid)
        record('g.headQueued', held)
        record('g.queueSeconds', Number(ms) / 1000)
        details.gQueued = {
          jobs: SIZES.queued,
          pools: Number(poolCount),
          headIdleMB: idle,
          headMB: held,
          headPeakMB: peak,
          queueMs: Number(ms),
          clientMB: rssMB(client.pid),
        }
        notes.push(
          `g: ${fmtInt(SIZES.queued)} jobs queued from one client process through ${poolCount} pool(s) of at most 250,000 (several clients, as many users would)`,
        )
        log(
          `queued ${fmtInt(SIZES.queued)} in ${(Number(ms) / 1000).toFixed(1)} s; head RSS ${idle.toFixed(0)} MB idle → ${held.toFixed(0)} MB (peak while queueing ${peak.toFixed(0)} MB)`,
        )
      } finally {
        clearInterval(sampler)
      }
    } finally {
      await stop(procs)
    }
  })
}

// ---------------------------------------------------------------------------- stage 3: h, many nodes

async function stageManyNodes() {
  const n = SIZES.manyNodes
  if (runs('h')) await caseManyNodes(n)
  if (runs('e')) await caseWideUpdates()
}

async function caseManyNodes(n) {
  await runCase('h', `${n} nodes (1 slot each) in one process on one head`, quick ? 90_000 : 240_000, async () => {
    const procs = []
    let pool
    try {
      const mesh = await startManyNodes('many', n, procs)
      const { many, ms, retries, workers } = mesh
      pool = mesh.pool
      record('h.join', Number(ms))
      log(`${n} joinHead calls at once, all welcomed after ${ms} ms (${retries} retried)`)
      if (Number(retries) > 0) {
        notes.push(
          `h: ${retries} of the ${n} joins failed at first and were tried again (${many
            .output()
            .split('\n')
            .filter((line) => line.startsWith('retried after: '))
            .map((line) => line.slice('retried after: '.length))
            .join('; ')})`,
        )
      }
      const t0 = performance.now()
      const out = await pool.map(range(SIZES.manyJobs))
      const seconds = (performance.now() - t0) / 1000
      if (out.length !== SIZES.manyJobs) throw new Error('wrong results')
      record('h.rate', SIZES.manyJobs / seconds)
      details.h = {
        nodes: n,
        joinMs: Number(ms),
        joinRetries: Number(retries),
        workers,
        jobs: SIZES.manyJobs,
        seconds,
        memoryMB: rssMB(many.pid),
      }
      log(
        `${fmtInt(SIZES.manyJobs)} jobs in ${seconds.toFixed(2)} s: ${fmtInt(SIZES.manyJobs / seconds)} jobs/s (${workers} slots)`,
      )
    } finally {
      await pool?.close().catch(() => {})
      await stop(procs, 5000)
    }
  })
}

async function caseWideUpdates() {
  const wide = SIZES.wideNodes
  await runCase('e', `updateWorkers → applied at every idle slot of ${wide} nodes`, 120_000, async () => {
    const procs = []
    let pool
    try {
      const mesh = await startManyNodes('wide', wide, procs)
      pool = mesh.pool
      await sleep(200)
      const { latencies } = await updateLatencies(pool, wide, SIZES.updates)
      record('e.p50wide', quantile(latencies, 0.5))
      record('e.p99wide', quantile(latencies, 0.99))
      details.eWide = { nodes: wide, updates: SIZES.updates, latenciesMs: latencies }
      log(`p50 ${quantile(latencies, 0.5).toFixed(2)} ms, p99 ${quantile(latencies, 0.99).toFixed(2)} ms`)
    } finally {
      await pool?.close().catch(() => {})
      await stop(procs, 5000)
    }
  })
}

/**
 * A fresh head and `n` light nodes (1 slot each) in one process (many-nodes.js), and
 * a pool whose worker every slot has loaded. The processes go into `procs`.
 */
async function startManyNodes(name, n, procs) {
  const head = await startHead(join(dir, `${name}.key`), password)
  procs.push(head)
  const many = start('many-nodes', [join(BENCH_DIR, 'many-nodes.js'), head.address, String(n)], {
    MESHPOOL_PASSWORD: password,
  })
  procs.push(many)
  const [, ms, retries] = await many.waitForLine(/^joined \d+ in (\d+) ms, (\d+) retries$/, 180_000)
  const pool = await openPool(head)
  const deadline = Date.now() + 30_000
  let workers = await pool.workersCount()
  while (workers < n && Date.now() < deadline) {
    await sleep(100)
    workers = await pool.workersCount()
  }
  if (workers < n) throw new Error(`only ${workers} of ${n} slots after 30 s`)
  // Every slot loads the worker on its first job: warm them all before timing.
  await pool.map(range(n * 20))
  return { head, many, ms, retries, pool, workers }
}

// ---------------------------------------------------------------------------- stage 4: f, a big input

/**
 * Last, on a mesh of its own: after a pnet chunk over 640 KiB, xsalsa20 (under
 * @libp2p/pnet) leaks WebAssembly memory on every further chunk until the process
 * dies (see bench/README.md), so a crash here must not take other cases down.
 */
async function stageBigInput() {
  await runCase('f', `one job with a ${SIZES.bigBytes / MiB} MiB input`, 180_000, async () => {
    // The raw stream first, in the same conditions.
    await caseRaw({ messages: false, bulk: true })
    const procs = []
    let pool
    try {
      const head = watch(await startHead(join(dir, 'big.key'), password))
      procs.push(head)
      const nodes = await Promise.all([
        joinNode(head.address, password, 1, 'bench-node-1'),
        joinNode(head.address, password, 1, 'bench-node-2'),
      ])
      procs.push(...nodes)
      for (const node of nodes) watch(node)
      pool = await openPool(head)
      await warmOn(
        pool,
        nodes.map((node) => node.peerId),
      )
      await pool.submit({ bytes: new Uint8Array(1024).fill(1) })
      const bytes = new Uint8Array(SIZES.bigBytes).fill(1)
      const t0 = performance.now()
      const length = await pool.submit({ bytes })
      const seconds = (performance.now() - t0) / 1000
      if (length !== SIZES.bigBytes) throw new Error(`the job saw ${length} bytes`)
      const rate = SIZES.bigBytes / MiB / seconds
      record('f.meshpool', rate)
      details.f = { bytes: SIZES.bigBytes, seconds }
      log(`${seconds.toFixed(3)} s: ${rate.toFixed(1)} MiB/s`)
    } finally {
      await pool?.close().catch(() => {})
      await stop(procs)
    }
  })
}

// ---------------------------------------------------------------------------- table

function printTable() {
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

// ---------------------------------------------------------------------------- main

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
  if (runs('c') && !runs('a')) notes.push('c: the ratio needs case a')
  if (['a', 'b', 'd', 'e', 'g'].some(runs)) await stageMesh()
  if (runs('g')) await stageQueued()
  if (runs('h') || runs('e')) await stageManyNodes()
  if (runs('f')) await stageBigInput()
  const mesh = values.get('a.large')
  const pipe = values.get('c.pipelined')
  if (mesh !== undefined && pipe !== undefined) record('c.ratio', mesh / pipe)
  const fm = values.get('f.meshpool')
  const fr = values.get('f.raw')
  if (fm !== undefined && fr !== undefined) record('f.ratio', (fm / fr) * 100)
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
    `d: the freeze case uses a pool with leaseMs ${FREEZE_LEASE_MS} (default 3000) and maxAttempts ${FREEZE_MAX_ATTEMPTS} (default 3). h: ${SIZES.manyNodes} joinHead nodes in one process, each with its own slot process.\n`,
)
for (const note of notes) process.stdout.write(`${note}\n`)
process.stdout.write(`total ${seconds.toFixed(0)} s${quick ? ' (quick)' : ''}\n`)

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

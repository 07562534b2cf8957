// Stage 1 of `pnpm bench`: a `--no-work` head and two nodes with 1 slot each, on
// which cases a (trivial jobs), b (sleeping jobs), e (update latency), g (the
// client's memory while it streams) and d (recovery from a kill and a freeze) run.
import { join } from 'node:path'
import {
  dir,
  FREEZE_LEASE_MS,
  FREEZE_MAX_ATTEMPTS,
  fmtInt,
  IDEAL_S,
  now,
  password,
  quick,
  range,
  runs,
  SIZES,
  SLEEP_MS,
  SLOTS,
  STREAM_INPUTS,
} from './config.js'
import { BENCH_DIR, headAndTwoNodes, joinNode, quantile, rssMB, sleep, start, stop } from './lib.js'
import { openPool, startOf, updateLatencies, warmOn } from './pools.js'
import { details, log, notes, record, runCase } from './results.js'

export async function stageMesh() {
  const procs = []
  const pools = []
  try {
    const { head, nodes } = await headAndTwoNodes(dir, 'mesh', password, procs)
    const peerIds = nodes.map((node) => node.peerId)
    log(`head and 2 nodes (1 slot each) up: ${head.address}`)
    /** What each case runs on; the pools and processes it opens go into `pools` and `procs` to be closed. */
    const mesh = { head, nodes, peerIds, procs, pools }

    if (runs('a')) await caseTrivial(mesh)
    await runCase('b', `${SIZES.sleepJobs} jobs of ${SLEEP_MS} ms on two slots`, 60_000, () => caseSleeps(mesh))
    await runCase('e', `updateWorkers → applied at every idle slot (${SIZES.updates} updates)`, 120_000, () =>
      caseUpdates(mesh),
    )
    await runCase(
      'g',
      `client memory while imapUnordered streams lazy inputs for ${SIZES.streamSeconds} s`,
      (SIZES.streamSeconds + 60) * 1000,
      () => caseStream(mesh),
    )
    await runCase('d', 'recovery: SIGKILL of a node, SIGSTOP of a node', 90_000, async () => {
      const kill = await caseKill(mesh)
      const freeze = await caseFreeze(mesh, kill.victim)
      details.d = { kill: kill.again, killedAt: kill.killedAt, ...freeze, leaseMs: FREEZE_LEASE_MS }
    })
  } finally {
    await Promise.allSettled(pools.map((pool) => pool.close()))
    await stop(procs)
  }
}

/** a: trivial jobs, on a pool warmed first (outside the timed case). */
async function caseTrivial({ head, peerIds, pools }) {
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

/** b: jobs that sleep SLEEP_MS on two slots, beside the same sleeps with no pool. */
async function caseSleeps({ head, peerIds, pools }) {
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
}

/** e: how long each update takes to reach both idle slots. */
async function caseUpdates({ head, peerIds, pools }) {
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
}

/** g: a client in a child process streams lazy inputs through imapUnordered while its RSS is sampled. */
async function caseStream({ head, procs }) {
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
}

/** d, kill: a job that sleeps on its first attempt; kill the node running it. */
async function caseKill({ head, nodes, peerIds, pools }) {
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
  if (again.attempt < 2 || again.node === victim.peerId) throw new Error(`unexpected rerun ${JSON.stringify(again)}`)
  record('d.kill', again.startedAt - killedAt)
  log(
    `SIGKILL → running on the other node after ${(again.startedAt - killedAt).toFixed(1)} ms (attempt ${again.attempt})`,
  )
  await pool.close()
  await stop([victim])
  victim.signalGroup('SIGKILL')
  return { again, killedAt, victim }
}

/** d, freeze: a third node joins; a pool with leaseMs 2000; SIGSTOP the node (and its slot) running the job. */
async function caseFreeze({ head, nodes, procs, pools }, victim) {
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
  if (moved.attempt < 2 || moved.node === frozen.peerId) throw new Error(`unexpected rerun ${JSON.stringify(moved)}`)
  record('d.freeze', moved.startedAt - stoppedAt)
  if (moved.attempt > 2) {
    notes.push(
      `d: after the SIGSTOP the job ran elsewhere only on attempt ${moved.attempt}: its expired lease went back to the frozen node ${moved.attempt - 2} more time(s)`,
    )
  }
  log(
    `SIGSTOP → running on another node after ${(moved.startedAt - stoppedAt).toFixed(0)} ms (leaseMs ${FREEZE_LEASE_MS}, attempt ${moved.attempt})`,
  )
  await frozenPool.close()
  return { freeze: moved, stoppedAt }
}

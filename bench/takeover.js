// Case j: how long a mesh with a standby head runs no job after its active head is
// SIGKILLed or SIGSTOPped. A primary (`meshpool head`), a standby (`meshpool head
// --standby <primary>`, with a copy of the primary's admin.key), 2 nodes joined to both
// and a client with both addresses; during a map, the bench kills (or freezes) whichever
// head is active and reads when the first result of a job that started after that
// arrives. The killed head is restarted with its key file and port, and becomes the
// standby; the frozen one gets SIGCONT and steps down: the next round hits the other head.
import { copyFileSync, mkdtempSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createPool } from 'meshpool'
import { dir, fmtMs, now, password, range, WORKER } from './config.js'
import { BIN, joinNode, quantile, start, startHead, stop, watch } from './lib.js'
import { details, log, notes, record, runCase } from './results.js'
import { ROUNDS } from './takeover-rows.js'

/** Jobs per round, and how many come back before the head is hit. */
const JOBS = 600
const BEFORE = 100
/** Each job sleeps this long (on its first attempt; a rerun returns at once). */
const JOB_MS = 10

export function stageTakeover() {
  return runCase(
    'j',
    'standby head: SIGKILL / SIGSTOP of the active head → first job done again',
    240_000,
    caseTakeover,
  )
}

/** Each head serves its dashboard: its /api/state says whether a standby has heard the active head yet. */
const DASHBOARD = ['--dashboard-port', '0']

/** Polls `condition` every 50 ms; throws, naming `what`, after `ms`. */
async function until(condition, ms, what) {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** A head's own peer id: its first line (a standby's join line names its primary first). */
const peerOf = (proc) => /^meshpool head (\S+)/m.exec(proc.output())?.[1]

/**
 * Resolves once `standby` has heard `active`: a standby that never heard an active head
 * does not take over, so hitting the active head before that would stop the mesh.
 */
async function heard(standby, active) {
  const url = /dashboard at (http:\S+)/.exec(standby.proc.output())?.[1]
  const state = async () => (await (await fetch(new URL('/api/state', url))).json()).heads
  await until(
    async () => {
      const heads = await state()
      return heads?.active === false && heads.activePeer === peerOf(active.proc)
    },
    20_000,
    'word from the active head at the standby',
  )
}

/** The primary and the standby, each with what it takes to restart it as it was. */
async function startPair() {
  const primaryKey = join(mkdtempSync(join(dir, 'primary-')), 'head.key')
  const primary = watch(await startHead(primaryKey, password, DASHBOARD))
  const standbyKey = join(mkdtempSync(join(dir, 'standby-')), 'head.key')
  copyFileSync(join(dirname(primaryKey), 'admin.key'), join(dirname(standbyKey), 'admin.key'))
  const standby = watch(await startHead(standbyKey, password, ['--standby', primary.address, ...DASHBOARD]))
  // The standby's join line lists the primary, then itself.
  const own = standby.output().match(/\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+/g)?.[1]
  if (own === undefined) throw new Error(`no address of its own in the standby's output:\n${standby.output()}`)
  const port = (address) => /\/tcp\/(\d+)\//.exec(address)[1]
  return [
    { proc: primary, keyFile: primaryKey, port: port(primary.address), more: DASHBOARD, active: true },
    {
      proc: standby,
      keyFile: standbyKey,
      port: port(own),
      more: ['--standby', primary.address, ...DASHBOARD],
      active: false,
      own,
    },
  ]
}

/** Restarts a killed head with its key file and port; resolves once it is the standby again. */
async function restart(head) {
  const args = [BIN, 'head', '--host', '127.0.0.1', '--port', head.port, '--no-work', '--key-file', head.keyFile]
  head.proc = watch(start('head', [...args, ...head.more], { MESHPOOL_PASSWORD: password }))
  await head.proc.waitForLine(/^ready$/)
  // A restarted primary steps down once it hears the active head; a restarted standby starts as one.
  if (!head.more.includes('--standby')) await head.proc.waitForLine(/steps down to standby/)
}

/**
 * One round: a map of JOBS jobs; after BEFORE results, `hit` takes the active head out.
 * Returns the ms from the hit to the first result of a job that started after it, and to that job's start.
 */
async function round(pool, hit) {
  let hitAt
  let doneAt
  let startedAt
  let seen = 0
  for await (const r of pool.imapUnordered(range(JOBS).map((x) => ({ x, sleepFirstMs: JOB_MS })))) {
    seen++
    if (hitAt === undefined && seen === BEFORE) hitAt = hit()
    else if (hitAt !== undefined && doneAt === undefined && r.startedAt > hitAt) {
      doneAt = now()
      startedAt = r.startedAt
    }
  }
  if (doneAt === undefined) throw new Error('no job started after the head was hit')
  return { done: doneAt - hitAt, running: startedAt - hitAt }
}

async function caseTakeover() {
  const heads = await startPair()
  const addresses = [heads[0].proc.address, heads[1].own]
  const nodes = await Promise.all(
    ['j-n1', 'j-n2'].map(async (name) => watch(await joinNode(addresses.join(','), password, 1, name))),
  )
  const pool = await createPool({ worker: WORKER, head: addresses, password, output: 'ignore' })
  const samples = { kill: [], freeze: [] }
  try {
    // A warm-up loads the worker on both nodes.
    await pool.map(range(20).map((x) => ({ x, sleepFirstMs: 1 })))
    for (let i = 0; i < ROUNDS; i++) {
      for (const kind of ['kill', 'freeze']) {
        const active = heads.find((head) => head.active)
        const other = heads.find((head) => !head.active)
        await heard(other, active)
        const took = await round(pool, () => {
          const at = now()
          if (kind === 'kill') {
            active.proc.expectDeath = true
            active.proc.child.kill('SIGKILL')
          } else {
            active.proc.frozen = true
            active.proc.child.kill('SIGSTOP')
          }
          return at
        })
        samples[kind].push(took)
        log(`${kind}: first job done again ${fmtMs(took.done)} after, running again at ${fmtMs(took.running)}`)
        if (kind === 'kill') {
          await active.proc.exited
          await restart(active)
        } else {
          const before = active.proc.count(/steps down to standby/)
          active.proc.frozen = false
          active.proc.child.kill('SIGCONT')
          await until(() => active.proc.count(/steps down to standby/) > before, 20_000, 'step-down of the thawed head')
        }
        active.active = false
        other.active = true
      }
    }
  } finally {
    await pool.close()
    await stop([...nodes, ...heads.map((head) => head.proc)], 2000)
  }
  details.j = samples
  for (const kind of ['kill', 'freeze'])
    record(
      `j.${kind}`,
      quantile(
        samples[kind].map((s) => s.done),
        0.5,
      ),
    )
  const running = (kind) =>
    fmtMs(
      quantile(
        samples[kind].map((s) => s.running),
        0.5,
      ),
    )
  notes.push(
    `j: the first job ran again (started) on the standby a median ${running('kill')} after the SIGKILL, ${running('freeze')} after the SIGSTOP (jobs of ${JOB_MS} ms, 2 nodes × 1 slot).`,
  )
}

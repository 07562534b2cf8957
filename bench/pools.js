// The pools the bench cases measure through, and what they wait for: a pool on a
// head, every node warmed, a job's start in the worker's log, updates applied.
import { existsSync, readFileSync } from 'node:fs'
import { createPool } from 'meshpool'
import { now, password, range, WORKER } from './config.js'
import { sleep } from './lib.js'

/**
 * Sends `count` updates 15 ms apart to a warmed pool whose `slots` slots are idle,
 * then reads back when each slot's handleUpdate ran (whoami jobs on every slot).
 * Per update: the time until the last slot applied it. Read-back jobs that sleep
 * `sleepMs` spread over many nodes: trivial ones may all go to the nodes that ask first.
 */
export async function updateLatencies(pool, slots, count, { sleepMs = 0, settle = false } = {}) {
  const sentAt = []
  for (let i = 0; i < count; i++) {
    sentAt[i] = now()
    await pool.updateWorkers({ i })
    await sleep(15)
  }
  await sleep(300)
  const applied = new Map()
  let failed = 0
  for (let round = 0; round < 20 && applied.size < slots; round++) {
    const jobs = sleepMs > 0 ? slots * 4 : Math.max(300, slots * 20)
    const inputs = range(jobs).map(() => ({ whoami: true, sleepMs }))
    // settle: a read-back job that fails is counted (and its node read in a later round), not thrown.
    const out = settle
      ? await pool.map(inputs, { settle: true })
      : (await pool.map(inputs)).map((value) => ({ ok: true, value }))
    failed += out.filter((r) => !r.ok).length
    for (const { value: r } of out.filter((o) => o.ok))
      applied.set(r.node, [...(applied.get(r.node) ?? []), ...r.updates])
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
  return { latencies, applied, failed }
}

/** A pool on the head, with the head's secret: its token if it made one, else the bench's password. */
export function openPool(head, options = {}) {
  const secret = head.token === undefined ? { password } : { token: head.token }
  return createPool({ worker: WORKER, head: head.address, ...secret, ...options })
}

/**
 * Runs whoami jobs until every given node has loaded this pool's worker (so timings
 * leave out the first load). Many at once: the head hands a node as many jobs as it
 * has asked for (its credit may be dozens), so a few jobs may all land on one node.
 */
export async function warmOn(pool, peerIds, { sleepMs = 0, jobs = 300 } = {}) {
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
export async function startOf(file, x, timeoutMs = 20_000) {
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

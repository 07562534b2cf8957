import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { ChaosDriver } from './chaos-driver.js'
import { PASSWORD, startHead, stopAll, tempDir, WORKER } from './harness.js'
import { prng } from './prng.js'
import { alive, waitGone } from './proc-table.js'

/** How long the driver makes trouble (it stops early if the map is done). */
const CHAOS_MS = 30_000
const JOBS = 5000
/** The inputs are fed over this long, so the map lasts a little longer than the chaos. */
const FEED_MS = 31_000
/** Jobs in flight at once for the call. */
const WINDOW = 128
const NODES = 4
/** No result for this long once every input is in: the map hangs. */
const STALL_MS = 20_000
/** Set CHAOS_SEED to replay a run. */
const SEED = process.env.CHAOS_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.CHAOS_SEED)

interface Out {
  x: number
  y: number
  node: string
  slot: number
  pid: number
  attempt: number
  startedAt: number
}

let driver: ChaosDriver | undefined

/** Nothing stays frozen, nothing outlives the test: thaw, stop every process, then kill stray slot processes. */
async function cleanUp(): Promise<number[]> {
  const d = driver
  driver = undefined
  if (d === undefined) {
    await stopAll()
    return []
  }
  d.stop()
  d.thawAll()
  await d.settle()
  d.thawAll()
  d.noteSlots()
  await stopAll()
  const left = await waitGone([...d.slotPidsSeen], 5000)
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
  return left
}

afterEach(async () => {
  await cleanUp()
})

describe('chaos', () => {
  it(`keeps every one of ${JOBS} results exactly once and correct while nodes and slots are killed, frozen and stopped at random`, async () => {
    console.log(`chaos seed ${SEED} (replay with CHAOS_SEED=${SEED})`)
    const rng = prng(SEED ^ 0x5eed)
    const head = await startHead({ noWork: true })
    driver = new ChaosDriver({
      head: head.address,
      seed: SEED,
      durationMs: CHAOS_MS,
      nodes: NODES,
      gapMs: [250, 1250],
      freezeMs: [500, 3000],
      weights: { kill: 2, freeze: 2, term: 2, crashSlot: 3 },
    })
    await driver.setup()
    const d = driver

    // Every start of a job is logged, to count how many ran more than once (reruns the caller must not see).
    const startLog = join(tempDir(), 'starts.log')
    await using pool = await createPool({
      worker: WORKER,
      init: { startLog },
      head: head.address,
      password: PASSWORD,
      leaseMs: 1000,
      maxAttempts: 50,
    })
    const results: Out[] = []
    let fedAll = false
    let lastResultAt = Date.now()
    let stalled: string | undefined
    let mapError: Error | undefined
    const controller = new AbortController()

    async function* paced(): AsyncGenerator<{ x: number; delayMs: number }> {
      const t0 = Date.now()
      for (let x = 0; x < JOBS; x++) {
        const wait = t0 + (x * FEED_MS) / JOBS - Date.now()
        if (wait > 0) await sleep(wait)
        yield { x, delayMs: rng.int(0, 5) }
      }
      fedAll = true
    }

    const watchdog = setInterval(() => {
      if (fedAll && Date.now() - lastResultAt > STALL_MS && stalled === undefined) {
        stalled = `no result for ${STALL_MS} ms with ${results.length}/${JOBS} in`
        controller.abort(new Error(stalled))
      }
    }, 250)

    const started = Date.now()
    const chaos = d.run()
    let mapMs = 0
    try {
      for await (const r of pool.imapUnordered(paced(), { window: WINDOW, signal: controller.signal })) {
        results.push(r as Out)
        lastResultAt = Date.now()
      }
    } catch (err) {
      mapError = err as Error
    } finally {
      mapMs = Date.now() - started
      clearInterval(watchdog)
      d.stop()
    }
    const report = await chaos
    await pool.close()

    // What happened.
    const xs = new Map<number, number>()
    for (const r of results) xs.set(r.x, (xs.get(r.x) ?? 0) + 1)
    const duplicates = [...xs].filter(([, n]) => n > 1).map(([x]) => x)
    const missing: number[] = []
    for (let x = 0; x < JOBS; x++) if (!xs.has(x)) missing.push(x)
    const wrong = results.filter((r) => r.y !== 2 * r.x)
    const retried = results.filter((r) => r.attempt > 1)
    const maxAttempt = results.reduce((m, r) => Math.max(m, r.attempt), 0)
    const nodesUsed = new Set(results.map((r) => r.node)).size
    const starts = new Map<number, number>()
    for (const line of readFileSync(startLog, 'utf8').split('\n')) {
      if (line !== '') starts.set(Number(line), (starts.get(Number(line)) ?? 0) + 1)
    }
    const startCount = [...starts.values()].reduce((a, b) => a + b, 0)
    const rerun = [...starts.values()].filter((n) => n > 1).length
    const lines = [
      `chaos seed ${SEED}: driver ran ${(report.ranMs / 1000).toFixed(1)} s, map took ${(mapMs / 1000).toFixed(1)} s`,
      `  actions: ${Object.entries(report.actions)
        .map(([a, n]) => `${a} ${n}`)
        .join(', ')}; skipped ${report.skipped}; nodes started ${report.nodesStarted} (${NODES} at first)`,
      `  SIGTERM exits: ${report.termExits.join(', ') || 'none'}; longest freeze ${report.longestFreezeMs} ms`,
      `  results: ${results.length} received, ${xs.size} distinct of ${JOBS}, ${duplicates.length} duplicated, ${missing.length} missing, ${wrong.length} wrong`,
      `  ${retried.length} results needed more than one attempt (max attempt ${maxAttempt}); ran on ${nodesUsed} nodes`,
      `  ${startCount} job starts in the slots; ${rerun} jobs started more than once`,
    ]
    if (mapError !== undefined) lines.push(`  the map rejected: ${mapError.name}: ${mapError.message}`)
    console.log(lines.join('\n'))
    const failed = mapError !== undefined || duplicates.length > 0 || missing.length > 0 || wrong.length > 0
    if (failed) {
      console.log(`driver log:\n${report.log.join('\n')}`)
      console.log(`missing (first 50): ${missing.slice(0, 50).join(', ')}`)
      console.log(`duplicated (first 50): ${duplicates.slice(0, 50).join(', ')}`)
      console.log(`head output (tail):\n${head.output().split('\n').slice(-60).join('\n')}`)
    } else if (process.env.CHAOS_VERBOSE !== undefined) {
      console.log(`driver log:\n${report.log.join('\n')}`)
    }

    // Every process goes away, and no slot process outlives its node.
    const nodePids = d.nodes.map((n) => n.pid)
    const strays = await cleanUp()
    const nodesLeft = nodePids.filter(alive)

    expect(stalled, 'the map stalled').toBeUndefined()
    expect(mapError, 'the map rejected').toBeUndefined()
    expect(duplicates, 'results that arrived more than once').toEqual([])
    expect(missing, 'results that never arrived').toEqual([])
    expect(wrong, 'wrong results').toEqual([])
    expect(results).toHaveLength(JOBS)
    expect(report.termExits.every((code) => code === 0)).toBe(true)
    expect(
      report.actions.kill + report.actions.freeze + report.actions.term + report.actions.crashSlot,
    ).toBeGreaterThan(10)
    expect(strays, 'slot processes left running').toEqual([])
    expect(nodesLeft, 'node processes left running').toEqual([])
  }, 120_000)
})

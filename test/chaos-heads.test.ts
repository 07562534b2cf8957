import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { ChaosDriver } from './chaos-driver.js'
import { HeadChaos } from './chaos-heads.js'
import { PASSWORD, stopAll, tempDir, WORKER } from './harness.js'
import { prng } from './prng.js'
import { waitGone } from './proc-table.js'

/** How many seeds each run tries, one after the other (CHAOS_SEEDS to change it); CHAOS_SEED to start from a given one. */
const SEEDS = Number(process.env.CHAOS_SEEDS ?? 10)
const BASE_SEED =
  process.env.CHAOS_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.CHAOS_SEED)
/** Jobs per seed, fed over FEED_MS while the heads and nodes are troubled for CHAOS_MS. */
const JOBS = 1000
const FEED_MS = 7000
const CHAOS_MS = 7000
const WINDOW = 64
const NODES = 3
/** No result for this long once every input is in: the map hangs. */
const STALL_MS = 20_000

interface Out {
  x: number
  y: number
  node: string
  attempt: number
}

let heads: HeadChaos | undefined
let nodes: ChaosDriver | undefined

/** Thaws what is frozen, stops every process, kills slot processes that outlived their node; returns those. */
async function cleanUp(): Promise<number[]> {
  const [h, d] = [heads, nodes]
  heads = undefined
  nodes = undefined
  h?.stop()
  h?.thawAll()
  d?.stop()
  d?.thawAll()
  await d?.settle()
  d?.noteSlots()
  await stopAll()
  const left = d === undefined ? [] : await waitGone([...d.slotPidsSeen], 5000)
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

/**
 * The jobs, paced over FEED_MS; the last one only once `covered` resolves (the map lasts
 * through a kill and a freeze of the active head, however slow the machine); `fed` is told
 * once the last is given.
 */
async function* paced(
  rng: ReturnType<typeof prng>,
  covered: Promise<void>,
  fed: () => void,
): AsyncGenerator<{ x: number; delayMs: number }> {
  const t0 = Date.now()
  for (let x = 0; x < JOBS; x++) {
    const wait = t0 + (x * FEED_MS) / JOBS - Date.now()
    if (wait > 0) await sleep(wait)
    if (x === JOBS - 1) await covered
    yield { x, delayMs: rng.int(0, 5) }
  }
  fed()
}

describe('chaos with a standby head', () => {
  for (let i = 0; i < SEEDS; i++) {
    const seed = (BASE_SEED + i) % 2 ** 31
    it(`seed ${seed}: every one of ${JOBS} results once and correct while the active head is killed or frozen and nodes and slots are killed, frozen and stopped`, async () => {
      console.log(`head chaos seed ${seed} (replay with CHAOS_SEED=${seed})`)
      const t0 = Date.now()
      const rng = prng(seed ^ 0x5eed)
      heads = new HeadChaos({
        seed,
        durationMs: CHAOS_MS,
        firstMs: [500, 1500],
        gapMs: [800, 2000],
        freezeMs: [500, 2500],
      })
      await heads.setup()
      const [h, head] = [heads, heads.addresses.join(',')]
      nodes = new ChaosDriver({
        head,
        seed,
        durationMs: CHAOS_MS,
        nodes: NODES,
        gapMs: [400, 1500],
        freezeMs: [500, 2500],
        weights: { kill: 2, freeze: 2, term: 2, crashSlot: 3 },
      })
      const d = nodes
      const startLog = join(tempDir(), 'starts.log')
      const [, opened] = await Promise.all([
        d.setup(),
        createPool({
          worker: WORKER,
          init: { startLog },
          head: h.addresses,
          password: PASSWORD,
          leaseMs: 1000,
          maxAttempts: 50,
          output: 'ignore',
        }),
      ])
      await using pool = opened
      const results: Out[] = []
      let fedAll = false
      let lastResultAt = Date.now()
      const controller = new AbortController()
      const watchdog = setInterval(() => {
        if (fedAll && Date.now() - lastResultAt > STALL_MS && !controller.signal.aborted) {
          controller.abort(new Error(`no result for ${STALL_MS} ms with ${results.length}/${JOBS} in`))
        }
      }, 250)

      const started = Date.now()
      const setupMs = started - t0
      const chaos = Promise.all([h.run(), d.run()])
      let mapError: Error | undefined
      try {
        const inputs = paced(rng, h.whenCovered, () => {
          fedAll = true
        })
        for await (const r of pool.imapUnordered(inputs, { window: WINDOW, signal: controller.signal })) {
          results.push(r as Out)
          lastResultAt = Date.now()
        }
      } catch (err) {
        mapError = err as Error
      } finally {
        clearInterval(watchdog)
        h.stop()
        d.stop()
      }
      const mapMs = Date.now() - started
      const [headReport, nodeReport] = await chaos
      // After it all, one head is active, and a new map runs on it.
      const again = mapError === undefined ? ((await pool.map([{ x: 21 }, { x: 22 }])) as Out[]) : []
      await pool.close()
      const afterMs = Date.now() - started - mapMs

      const xs = new Map<number, number>()
      for (const r of results) xs.set(r.x, (xs.get(r.x) ?? 0) + 1)
      const duplicates = [...xs].filter(([, n]) => n > 1).map(([x]) => x)
      const missing = Array.from({ length: JOBS }, (_, x) => x).filter((x) => !xs.has(x))
      const wrong = results.filter((r) => r.y !== 2 * r.x)
      const starts = readFileSync(startLog, 'utf8').split('\n').filter(Boolean)
      const lines = [
        `head chaos seed ${seed}: setup ${(setupMs / 1000).toFixed(1)} s, map ${(mapMs / 1000).toFixed(1)} s, settling after it ${(afterMs / 1000).toFixed(1)} s; head actions ${JSON.stringify(headReport.actions)}, ${headReport.takeovers} takeovers`,
        `  node actions ${JSON.stringify(nodeReport.actions)}; nodes started ${nodeReport.nodesStarted}`,
        `  results: ${results.length} received, ${xs.size} distinct, ${duplicates.length} duplicated, ${missing.length} missing, ${wrong.length} wrong; ${starts.length - new Set(starts).size} extra job starts in the slots`,
      ]
      if (mapError !== undefined) lines.push(`  the map rejected: ${mapError.message}`)
      console.log(lines.join('\n'))
      if (mapError !== undefined || duplicates.length > 0 || missing.length > 0 || wrong.length > 0) {
        console.log(`head log:\n${headReport.log.join('\n')}\nnode log:\n${nodeReport.log.join('\n')}`)
        console.log(`missing (first 50): ${missing.slice(0, 50).join(', ')}; duplicated: ${duplicates.slice(0, 50)}`)
        console.log(h.output())
      }
      const t1 = Date.now()
      const strays = await cleanUp()
      console.log(`  clean-up ${((Date.now() - t1) / 1000).toFixed(1)} s`)

      expect(mapError, 'the map rejected or stalled').toBeUndefined()
      expect(duplicates, 'results that arrived more than once').toEqual([])
      expect(missing, 'results that never arrived').toEqual([])
      expect(wrong, 'wrong results').toEqual([])
      expect(again.map((r) => r.y)).toEqual([42, 44])
      // The chaos did reach the heads: at least one kill and one freeze of the active head, and a takeover.
      expect(headReport.actions.killHead).toBeGreaterThanOrEqual(1)
      expect(headReport.actions.freezeHead).toBeGreaterThanOrEqual(1)
      expect(headReport.takeovers).toBeGreaterThanOrEqual(1)
      expect(nodeReport.termExits.every((code) => code === 0)).toBe(true)
      expect(strays, 'slot processes left running').toEqual([])
    }, 90_000)
  }
})

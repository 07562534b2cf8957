import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

/** What bench/run.js writes to bench-results/latest.json, as far as this test reads it. */
interface BenchResults {
  date: string
  quick: boolean
  rows: Array<{ key: string; case: string; value: number | null }>
  errors: Array<{ case: string; error: string }>
}

const RUN = fileURLToPath(new URL('../bench/run.js', import.meta.url))
const LATEST = fileURLToPath(new URL('../bench-results/latest.json', import.meta.url))

/** Runs `node bench/run.js <args>`; resolves with its exit code and everything it printed. */
async function bench(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [RUN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { code, output }
}

const latest = (): BenchResults => JSON.parse(readFileSync(LATEST, 'utf8')) as BenchResults

describe('pnpm bench --quick', () => {
  it('runs every case briefly, each giving its figures as numbers, and prints every figure beside its target', async () => {
    const startedAt = Date.now()
    const { code, output } = await bench(['--quick'])
    expect(code, output).toBe(0)
    for (const target of ['≥ 20,000', '< 100 ms', '< 3,000 ms', '< 5 ms', '≥ 60 %', '< 300 MB', '≤ 1.2 ×']) {
      expect(output).toContain(target)
    }
    // The results file of this run (not an older one) has a number for every figure of every case.
    const results = latest()
    expect(Date.parse(results.date)).toBeGreaterThanOrEqual(startedAt)
    expect(results.quick).toBe(true)
    expect(results.errors).toEqual([])
    expect(new Set(results.rows.map((row) => row.case))).toEqual(
      new Set(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'k']),
    )
    for (const row of results.rows) expect(Number.isFinite(row.value), `${row.key}: ${row.value}`).toBe(true)
    // Case i's 30 simulated nodes (over 2 processes) ran every job.
    const figure = (key: string) => results.rows.find((row) => row.key === key)?.value
    expect(figure('i.failed.30'), output).toBe(0)
    expect(figure('i.rate1.30'), output).toBeGreaterThan(0)
  }, 300_000)

  it('exits 1 when a case throws, and names the case', async () => {
    // Case c alone passes (raw libp2p peers, a few seconds) …
    const alone = await bench(['--quick', '--only=c'])
    expect(alone.code, alone.output).toBe(0)
    // … and fails the bench when it throws.
    const { code, output } = await bench(['--quick', '--only=c'], { MESHPOOL_BENCH_FAIL_CASE: 'c' })
    expect(code, output).toBe(1)
    expect(output).toMatch(/^ {2}case c: Error: case c was told to fail/m)
    expect(latest().errors.map((e) => e.case)).toEqual(['c'])
  }, 60_000)
})

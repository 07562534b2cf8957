import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

/** What bench/run.js writes to bench-results/latest.json, as far as this test reads it. */
interface BenchResults {
  date: string
  quick: boolean
  rows: Array<{ key: string; case: string; value: number | null }>
  errors: unknown[]
}

describe('pnpm bench --quick', () => {
  it('runs every case briefly, each giving its figures as numbers, and prints every figure beside its target', async () => {
    const run = fileURLToPath(new URL('../bench/run.js', import.meta.url))
    const latest = fileURLToPath(new URL('../bench-results/latest.json', import.meta.url))
    const startedAt = Date.now()
    const child = spawn(process.execPath, [run, '--quick'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    expect(code, output).toBe(0)
    for (const target of ['≥ 20,000', '< 100 ms', '< 3,000 ms', '< 5 ms', '≥ 60 %', '< 300 MB']) {
      expect(output).toContain(target)
    }
    // The results file of this run (not an older one) has a number for every figure of every case.
    const results = JSON.parse(readFileSync(latest, 'utf8')) as BenchResults
    expect(Date.parse(results.date)).toBeGreaterThanOrEqual(startedAt)
    expect(results.quick).toBe(true)
    expect(results.errors).toEqual([])
    expect(new Set(results.rows.map((row) => row.case))).toEqual(new Set(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']))
    for (const row of results.rows) expect(Number.isFinite(row.value), `${row.key}: ${row.value}`).toBe(true)
  }, 300_000)
})

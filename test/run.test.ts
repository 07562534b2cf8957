import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { joinNode, meshpool, startHead, stopAll, tempDir, WORKER } from './harness.js'

afterEach(stopAll)

const worker = fileURLToPath(WORKER)

function paramsFile(count: number): string {
  const file = join(tempDir(), 'params.jsonl')
  writeFileSync(file, Array.from({ length: count }, (_, x) => `${JSON.stringify({ x, delayMs: 5 })}\n`).join(''))
  return file
}

describe('meshpool run', () => {
  it('maps a JSONL file through a worker on local slots, results in input order, with progress on stderr', async () => {
    const output = join(tempDir(), 'results.jsonl')
    const run = meshpool(['run', worker, '--input', paramsFile(200), '--output', output, '--slots', '2'])
    expect(await run.exited).toBe(0)
    const results = readFileSync(output, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    expect(results.map((r) => r.y)).toEqual(Array.from({ length: 200 }, (_, x) => 2 * x))
    expect(run.output()).toMatch(/\d+\/200 jobs \| \d+ running, \d+ queued/)
    expect(run.output()).toMatch(/200 results in /)
  })

  it('runs on a mesh with --head, writing to stdout', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 2)
    const run = meshpool(['run', worker, '--input', paramsFile(30), '--head', head.address])
    expect(await run.exited).toBe(0)
    const lines = run
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
    expect(lines.map((line) => JSON.parse(line).x)).toEqual(Array.from({ length: 30 }, (_, x) => x))
  })

  it('names the line of the input that is not JSON', async () => {
    const file = join(tempDir(), 'bad.jsonl')
    writeFileSync(file, '{"x": 1}\n{"x": \n')
    const run = meshpool(['run', worker, '--input', file])
    expect(await run.exited).toBe(2)
    expect(run.output()).toMatch(/line 2 of .*bad\.jsonl is not JSON/)
  })
})

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

describe('meshpool run --cmd', () => {
  const python = `python3 -c 'import json, sys; p = json.load(sys.stdin); print(json.dumps({"x": p["x"], "square": p["x"] ** 2}))'`

  it('runs a Python one-liner once per line, params on stdin and its JSON stdout the result, in input order', async () => {
    const output = join(tempDir(), 'results.jsonl')
    const run = meshpool(['run', '--cmd', python, '--input', paramsFile(40), '--output', output, '--slots', '2'])
    expect(await run.exited, run.output()).toBe(0)
    const results = readFileSync(output, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    expect(results).toEqual(Array.from({ length: 40 }, (_, x) => ({ x, square: x * x })))
  })

  it('on a mesh too (the command worker is shipped), and a failing command fails its job with its stderr', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 2)
    const run = meshpool(['run', '--cmd', python, '--input', paramsFile(10), '--head', head.address])
    expect(await run.exited, run.output()).toBe(0)
    const squares = run
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line).square)
    expect(squares).toEqual(Array.from({ length: 10 }, (_, x) => x * x))

    const failing = meshpool([
      'run',
      '--cmd',
      `python3 -c 'import sys; sys.exit("no model here")'`,
      '--input',
      paramsFile(2),
    ])
    expect(await failing.exited).toBe(1)
    expect(failing.output()).toMatch(/exited with code 1: no model here/)
    const neither = meshpool(['run', '--input', paramsFile(1)])
    expect(await neither.exited).toBe(2)
    expect(neither.output()).toMatch(/give a worker module or --cmd/)
  })
})

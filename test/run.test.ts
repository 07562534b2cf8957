import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
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
    expect(run.output()).not.toMatch(/ETA NFs/)
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

  it('a failing line fails alone: every result is written, an error record in its place, exit 1 naming the line', async () => {
    const dir = tempDir()
    const input = join(dir, 'params.jsonl')
    const output = join(dir, 'results.jsonl')
    // 21 jobs on lines 1-22 (line 3 is blank); the job on line 9 throws.
    const lines = Array.from({ length: 21 }, (_, x) => JSON.stringify(x === 7 ? { x, throw: 'boom' } : { x }))
    lines.splice(2, 0, '')
    writeFileSync(input, `${lines.join('\n')}\n`)
    const run = meshpool(['run', worker, '--input', input, '--output', output, '--slots', '2'])
    expect(await run.exited, run.output()).toBe(1)
    const records = readFileSync(output, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    expect(records).toHaveLength(21)
    expect(records[7]).toEqual({
      error: expect.objectContaining({
        name: 'RemoteJobError',
        remoteName: 'TypeError',
        message: expect.stringContaining('boom'),
      }),
      line: 9,
    })
    expect(records.filter((_, i) => i !== 7).map((r) => r.y)).toEqual(
      Array.from({ length: 21 }, (_, x) => 2 * x).filter((_, x) => x !== 7),
    )
    expect(run.output()).toMatch(/1 of 21 lines failed: line 9 .*Line 9: TypeError: boom/)

    const fast = meshpool(['run', worker, '--input', input, '--output', join(dir, 'fast.jsonl'), '--fail-fast'])
    expect(await fast.exited).toBe(1)
    expect(fast.output()).toMatch(/line 9 failed \(--fail-fast: the other jobs were cancelled\): TypeError: boom/)
    expect(existsSync(join(dir, 'fast.jsonl'))).toBe(false)
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

  it('--ship sends the files the command names: they run on a node started in another folder, cached there by hash', async () => {
    const head = await startHead({ noWork: true })
    const nodeState = tempDir()
    const node = meshpool(['join', head.address, '--slots', '2', '--state-dir', nodeState], {}, { cwd: tempDir() })
    await node.waitForLine(/^ready$/)
    const here = tempDir()
    mkdirSync(join(here, 'lib'))
    writeFileSync(join(here, 'lib', 'weights.json'), JSON.stringify({ w: 3 }))
    writeFileSync(
      join(here, 'score.py'),
      'import json, sys\nw = json.load(open("lib/weights.json"))["w"]\np = json.load(sys.stdin)\nprint(json.dumps({"x": p["x"], "score": w * p["x"]}))\n',
    )
    const input = paramsFile(12)
    const args = ['run', '--cmd', 'python3 score.py', '--input', input, '--head', head.address]
    const unshipped = meshpool(args, {}, { cwd: here })
    expect(await unshipped.exited).toBe(1)
    expect(unshipped.output()).toMatch(/12 of 12 lines failed.*can't open file/)

    const shipped = meshpool([...args, '--ship', 'score.py', 'lib/weights.json'], {}, { cwd: here })
    expect(await shipped.exited, shipped.output()).toBe(0)
    const scores = shipped
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line).score)
    expect(scores).toEqual(Array.from({ length: 12 }, (_, x) => 3 * x))
    // A second run of the same files is the same shipped code: the node keeps its cached copy.
    const again = meshpool([...args, '--ship', 'score.py', 'lib/weights.json'], {}, { cwd: here })
    expect(await again.exited, again.output()).toBe(0)
    const cached = readdirSync(join(nodeState, 'code'))
    expect(cached.filter((name) => name.endsWith('.mjs'))).toHaveLength(2) // the plain command worker, and this one
    const folders = cached.filter((name) => name.startsWith('files-'))
    expect(folders).toHaveLength(1)
    expect(readFileSync(join(nodeState, 'code', folders[0] as string, 'lib', 'weights.json'), 'utf8')).toBe('{"w":3}')

    const outside = meshpool([...args, '--ship', '../score.py'], {}, { cwd: join(here, 'lib') })
    expect(await outside.exited).toBe(2)
    expect(outside.output()).toMatch(/--ship \.\.\/score\.py: ship files in this folder or below it/)
  })
})

import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createPool, type NodeInfo } from 'meshpool'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { capture, PASSWORD, type Proc, stopAll, tempDir, WORKER, waitFor } from './harness.js'
import { childPids } from './proc-table.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const COMMANDS = ['head', 'join', 'run', 'keygen', 'revoke', 'status', 'stop', 'slurm', 'k8s']

/** How a test starts the build it tests: `node meshpool.mjs …` or `./meshpool …`. */
type Start = (args: string[]) => Proc

/** What the builds started: stopped after the tests. */
const started: Proc[] = []
/** A folder with no node_modules in it or above it, holding the builds and nothing else. */
let box = ''
/** The PATH the builds run with: `cat` and `sleep` for the test's command, no node, no nvidia-smi. */
let path = ''

function starter(command: string, prefix: string[]): Start {
  return (args) => {
    const child: ChildProcess = spawn(command, [...prefix, ...args], {
      cwd: box,
      env: { HOME: process.env.HOME, PATH: path, MESHPOOL_PASSWORD: PASSWORD, MESHPOOL_STATE_DIR: tempDir() },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const proc = capture(child)
    started.push(proc)
    return proc
  }
}

async function ended(proc: Proc): Promise<{ code: number | string; output: string }> {
  return { code: await proc.exited, output: proc.output() }
}

beforeAll(() => {
  const begun = Date.now()
  execFileSync(process.execPath, [join(ROOT, 'scripts/build-dist.mjs')], { stdio: 'pipe' })
  console.log(`scripts/build-dist.mjs (the .mjs and the executable) took ${Date.now() - begun} ms`)
  box = join(tempDir(), 'box')
  mkdirSync(box)
  for (let dir = box; dir !== dirname(dir); dir = dirname(dir))
    expect(existsSync(join(dir, 'node_modules'))).toBe(false)
  for (const file of ['meshpool.mjs', 'meshpool']) copyFileSync(join(ROOT, 'dist', file), join(box, file))
  path = join(tempDir(), 'bin')
  mkdirSync(path)
  for (const tool of ['cat', 'sleep']) symlinkSync(execFileSync('which', [tool]).toString().trim(), join(path, tool))
}, 120_000)

afterAll(async () => {
  for (const proc of started) proc.child.kill('SIGTERM')
  await Promise.all(started.map((proc) => proc.exited))
  await stopAll() // and the temp folders
})

/** Every command is there; those that need no mesh work. */
async function expectEveryCommand(start: Start): Promise<void> {
  const help = await ended(start(['--help']))
  expect(help.code).toBe(0)
  for (const command of COMMANDS) expect(help.output).toMatch(new RegExp(`^  ${command} `, 'm'))
  const key = join(tempDir(), 'pool.key')
  expect((await ended(start(['keygen', key]))).code).toBe(0)
  expect(readFileSync(key, 'utf8').trim().length).toBeGreaterThan(40)
  const slurm = await ended(start(['slurm', '--workers', '2']))
  expect(slurm.code).toBe(0)
  expect(slurm.output).toMatch(/^#SBATCH /m)
  const k8s = await ended(start(['k8s', '--workers', '2']))
  expect(k8s.code).toBe(0)
  expect(k8s.output).toMatch(/^kind: (StatefulSet|Deployment)/m)
}

/**
 * A head and two nodes from the build; `run --cmd` from it (no esbuild anywhere) and a
 * program's createPool (the npm package's, shipping its worker) map on them; `status`
 * sees both nodes work; `stop` ends one.
 */
async function expectMesh(start: Start, program: string): Promise<void> {
  const dir = tempDir()
  const head = start(['head', '--host', '127.0.0.1', '--port', '0', '--no-work', '--key-file', join(dir, 'head.key')])
  await head.waitForLine(/^ready$/, 30_000)
  const address = /\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+/.exec(head.output())?.[0] as string
  const nodes = [start(['join', address, '--slots', '1']), start(['join', address, '--slots', '1'])]
  await Promise.all(nodes.map((node) => node.waitForLine(/^ready$/, 30_000)))
  // The nodes' slots are the same build, in its slot role.
  for (const node of nodes) {
    const slots = childPids(node.child.pid as number)
    expect(slots).toHaveLength(1)
    const argv = readFileSync(`/proc/${slots[0]}/cmdline`, 'utf8').split('\0')
    expect(argv[0]).toBe(program)
    expect(argv).toContain('--meshpool-role=slot')
  }

  const input = join(dir, 'params.jsonl')
  writeFileSync(input, Array.from({ length: 40 }, (_, x) => `${JSON.stringify({ x })}\n`).join(''))
  const cmd = `sleep 0.05; printf '{"got":%s,"slot":"%s"}' "$(cat)" "$MESHPOOL_SLOT"`
  const run = await ended(start(['run', '--cmd', cmd, '--input', input, '--head', address]))
  expect(run.code, run.output).toBe(0)
  const lines = run.output.split('\n').filter((line) => line.startsWith('{'))
  expect(lines.map((line) => JSON.parse(line))).toEqual(
    Array.from({ length: 40 }, (_, x) => ({ got: { x }, slot: '0' })),
  )

  await using pool = await createPool({ worker: WORKER, head: address, password: PASSWORD, output: 'ignore' })
  const results = (await pool.map(Array.from({ length: 40 }, (_, x) => ({ x, delayMs: 20 })))) as Array<{ y: number }>
  expect(results.map((r) => r.y)).toEqual(Array.from({ length: 40 }, (_, x) => x * 2))

  let status: { nodes: NodeInfo[] } = { nodes: [] }
  await waitFor(
    async () => {
      status = JSON.parse((await ended(start(['status', address, '--json']))).output)
      return status.nodes.reduce((n, node) => n + node.done, 0) === 80
    },
    20_000,
    'the head to count 80 jobs done',
    () => JSON.stringify(status),
  )
  expect(status.nodes.every((node) => node.done > 0)).toBe(true)
  const name = status.nodes[0]?.name as string
  const stop = await ended(start(['stop', address, name, '--admin-key', join(dir, 'admin.key')]))
  expect(stop.code, stop.output).toBe(0)
  expect(await Promise.race(nodes.map((node) => node.exited))).toBe(0)
}

describe('dist/meshpool.mjs, the one-file build', () => {
  const start = (args: string[]) => starter(process.execPath, [join(box, 'meshpool.mjs')])(args)

  it('is one file that names nothing of this checkout, and holds every command', async () => {
    expect(readFileSync(join(box, 'meshpool.mjs'), 'utf8')).not.toContain(ROOT)
    await expectEveryCommand(start)
  })

  it('runs a head and two nodes from that file alone, and maps on them', async () => {
    await expectMesh(start, process.execPath)
  })
})

describe('dist/meshpool, the single executable', () => {
  const start = (args: string[]) => starter(join(box, 'meshpool'), [])(args)

  it('holds every command, with no node on the PATH', async () => {
    await expectEveryCommand(start)
  })

  it('runs a head and two nodes from the executable alone, and maps on them', async () => {
    await expectMesh(start, join(box, 'meshpool'))
  })
})

import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createPool, type NodeInfo } from 'meshpool'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { capture, PASSWORD, type Proc, stopAll, tempDir, WORKER, waitFor } from './harness.js'
import { childPids } from './proc-table.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const COMMANDS = ['head', 'join', 'run', 'keygen', 'revoke', 'status', 'stop', 'slurm', 'k8s']

/** What the one file started: stopped after the tests. */
const started: Proc[] = []
let folder = ''
let file = ''

/** Runs the copied one file in its folder, as `node meshpool.mjs …` on a machine with nothing else. */
function oneFile(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child: ChildProcess = spawn(process.execPath, [file, ...args], {
    cwd: folder,
    env: { ...process.env, MESHPOOL_PASSWORD: PASSWORD, MESHPOOL_STATE_DIR: tempDir(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const proc = capture(child)
  started.push(proc)
  return proc
}

async function ended(proc: Proc): Promise<{ code: number | string; output: string }> {
  return { code: await proc.exited, output: proc.output() }
}

beforeAll(() => {
  const begun = Date.now()
  execFileSync(process.execPath, [join(ROOT, 'scripts/build-dist.mjs')], { stdio: 'pipe' })
  console.log(`scripts/build-dist.mjs took ${Date.now() - begun} ms`)
  // A folder with no node_modules in it or above it: the temp folder.
  folder = join(tempDir(), 'box')
  mkdirSync(folder)
  file = join(folder, 'meshpool.mjs')
  copyFileSync(join(ROOT, 'dist/meshpool.mjs'), file)
  for (let dir = folder; dir !== dirname(dir); dir = dirname(dir))
    expect(existsSync(join(dir, 'node_modules'))).toBe(false)
})

afterAll(async () => {
  for (const proc of started) proc.child.kill('SIGTERM')
  await Promise.all(started.map((proc) => proc.exited))
  await stopAll() // and the temp folders
})

describe('dist/meshpool.mjs, the one-file build', () => {
  it('is one file that names nothing of this checkout, and holds every command', async () => {
    expect(readFileSync(file, 'utf8')).not.toContain(ROOT)
    const help = await ended(oneFile(['--help']))
    expect(help.code).toBe(0)
    for (const command of COMMANDS) expect(help.output).toMatch(new RegExp(`^  ${command} `, 'm'))

    const key = join(folder, 'pool.key')
    expect((await ended(oneFile(['keygen', key]))).code).toBe(0)
    expect(readFileSync(key, 'utf8').trim().length).toBeGreaterThan(40)
    const slurm = await ended(oneFile(['slurm', '--workers', '2']))
    expect(slurm.code).toBe(0)
    expect(slurm.output).toMatch(/^#SBATCH /m)
    const k8s = await ended(oneFile(['k8s', '--workers', '2']))
    expect(k8s.code).toBe(0)
    expect(k8s.output).toMatch(/^kind: StatefulSet|^kind: Deployment/m)
  })

  it('runs a head and two nodes from that file alone; `run --cmd` from it and a createPool client map on them', async () => {
    const head = oneFile([
      'head',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--no-work',
      '--key-file',
      join(folder, 'head.key'),
    ])
    await head.waitForLine(/^ready$/, 30_000)
    const address = /\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+/.exec(head.output())?.[0] as string
    const nodes = [oneFile(['join', address, '--slots', '1']), oneFile(['join', address, '--slots', '1'])]
    await Promise.all(nodes.map((node) => node.waitForLine(/^ready$/, 30_000)))
    // The nodes' slots are the same file, in its slot role.
    for (const node of nodes) {
      const slots = childPids(node.child.pid as number)
      expect(slots).toHaveLength(1)
      expect(readFileSync(`/proc/${slots[0]}/cmdline`, 'utf8').split('\0')).toEqual([
        process.execPath,
        file,
        '--meshpool-role=slot',
        '',
      ])
    }

    // A command per job, its params on stdin: the client is the one file too, with no esbuild anywhere.
    const input = join(folder, 'params.jsonl')
    writeFileSync(input, Array.from({ length: 40 }, (_, x) => `${JSON.stringify({ x })}\n`).join(''))
    const cmd = `sleep 0.05; printf '{"got":%s,"slot":"%s"}' "$(cat)" "$MESHPOOL_SLOT"`
    const run = await ended(oneFile(['run', '--cmd', cmd, '--input', input, '--head', address]))
    expect(run.code, run.output).toBe(0)
    const lines = run.output.split('\n').filter((line) => line.startsWith('{'))
    expect(lines.map((line) => JSON.parse(line))).toEqual(
      Array.from({ length: 40 }, (_, x) => ({ got: { x }, slot: '0' })),
    )

    // A program's client (the npm package here) ships its worker module to those nodes.
    await using pool = await createPool({ worker: WORKER, head: address, password: PASSWORD, output: 'ignore' })
    const results = (await pool.map(Array.from({ length: 40 }, (_, x) => ({ x, delayMs: 20 })))) as Array<{
      y: number
      node: string
    }>
    expect(results.map((r) => r.y)).toEqual(Array.from({ length: 40 }, (_, x) => x * 2))

    let status: { nodes: NodeInfo[] } = { nodes: [] }
    await waitFor(
      async () => {
        const proc = await ended(oneFile(['status', address, '--json']))
        status = JSON.parse(proc.output)
        return status.nodes.reduce((n, node) => n + node.done, 0) === 80
      },
      20_000,
      'the head to count 80 jobs done',
      () => JSON.stringify(status),
    )
    expect(status.nodes.every((node) => node.done > 0)).toBe(true)

    const name = status.nodes[0]?.name as string
    const stop = await ended(oneFile(['stop', address, name, '--admin-key', join(folder, 'admin.key')]))
    expect(stop.code, stop.output).toBe(0)
    expect(await Promise.race(nodes.map((node) => node.exited))).toBe(0)
  })
})

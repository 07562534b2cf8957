import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { BIN, capture, meshpool, type Out, PASSWORD, stopAll, tempDir, WORKER, waitFor } from './harness.js'

/** Process groups this file started: the head job; and files where the fake sbatch wrote those of the jobs it ran. */
const groups: number[] = []
const pidFiles: string[] = []
afterEach(async () => {
  for (const file of pidFiles.splice(0)) {
    if (existsSync(file)) groups.push(...readFileSync(file, 'utf8').trim().split('\n').map(Number))
  }
  for (const pid of groups.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {
      // it ended already
    }
  }
  await stopAll()
})

/**
 * A fake sbatch: it logs its arguments (one JSON line each call) and runs the job's --wrap
 * with sh at once, in a process group of its own (whose id it appends to `pids`), with the
 * environment it was given, as sbatch passes it on. An array runs its first task only.
 */
function fakeSbatch(bin: string, log: string, pids: string): void {
  const file = join(bin, 'sbatch')
  writeFileSync(
    file,
    `#!${process.execPath}
const { appendFileSync, openSync } = require('node:fs')
const { spawn } = require('node:child_process')
const args = process.argv.slice(2)
appendFileSync(${JSON.stringify(log)}, JSON.stringify(args) + '\\n')
const n = require('node:fs').readFileSync(${JSON.stringify(log)}, 'utf8').trim().split('\\n').length
const out = openSync(${JSON.stringify(join(bin, '..'))} + '/job-' + n + '.out', 'w')
const child = spawn('sh', ['-c', args[args.indexOf('--wrap') + 1]], { detached: true, stdio: ['ignore', out, out] })
appendFileSync(${JSON.stringify(pids)}, child.pid + '\\n')
child.unref()
console.log('Submitted batch job ' + (4242 + n))
`,
  )
  chmodSync(file, 0o755)
}

const logged = (log: string): string[][] =>
  existsSync(log)
    ? readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line))
    : []

describe('meshpool slurm --standby, the head job run through a fake sbatch', () => {
  it('starts a standby job off the head’s node with a copy of the admin key; nodes join both; killing the head job’s processes mid-map loses nothing', async () => {
    const dir = tempDir()
    const bin = join(dir, 'bin')
    mkdirSync(bin)
    const args = ['slurm', '--standby', '--workers', '1', '--gpus-per-worker', '0', '--port', '0']
    const print = meshpool([...args, '--meshpool', `${process.execPath} ${BIN}`])
    expect(await print.exited, print.output()).toBe(0)
    const script = join(dir, 'meshpool.sbatch')
    writeFileSync(script, print.output())
    expect(spawnSync('bash', ['-n', script], { encoding: 'utf8' }).status).toBe(0)

    const sbatchLog = join(dir, 'sbatch.log')
    const pids = join(dir, 'pids')
    pidFiles.push(pids)
    fakeSbatch(bin, sbatchLog, pids)
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, HOME: dir, TMPDIR: dir }
    Object.assign(env, { SLURM_JOB_ID: '4242', SLURMD_NODENAME: 'node-a', SLURM_CPUS_ON_NODE: '2' })
    Object.assign(env, { MESHPOOL_PASSWORD: PASSWORD })
    const headJob: ChildProcess = spawn('bash', [script], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    groups.push(headJob.pid as number)
    const job = capture(headJob)
    const state = join(dir, '.meshpool', 'slurm-4242')
    const detail = () =>
      `${job.output()}\n${['head.log', 'standby/head.log'].map((f) => (existsSync(join(state, f)) ? readFileSync(join(state, f), 'utf8') : '')).join('\n')}`
    const addressFile = join(state, 'address')
    await waitFor(() => existsSync(addressFile), 60_000, 'the head job to write the address file', detail)
    await waitFor(() => logged(sbatchLog).length === 2, 10_000, 'the head job to submit the nodes', detail)

    // The standby is a job of its own, kept off the head job's node, named so scancel finds it.
    const [standbyJob, nodesJob] = logged(sbatchLog)
    expect(standbyJob).toEqual(expect.arrayContaining(['--job-name=meshpool-standby', '--exclude=node-a']))
    expect(nodesJob).toEqual(expect.arrayContaining(['--job-name=meshpool-nodes', '--array=1-1']))
    // It has its own key file and a private copy of the primary's admin key beside it.
    const adminKey = join(state, 'standby', 'admin.key')
    expect(readFileSync(adminKey, 'utf8')).toBe(readFileSync(join(state, 'admin.key'), 'utf8'))
    expect(statSync(adminKey).mode & 0o777).toBe(0o600)
    // The address file lists both heads, the primary first, as clients take them (MESHPOOL_HEAD too).
    const heads = readFileSync(addressFile, 'utf8').trim().split(',')
    expect(heads).toHaveLength(2)
    const peerId = (log: string) => /^meshpool head (\S+)/m.exec(readFileSync(join(state, log), 'utf8'))?.[1]
    expect(heads.map((head) => head.split('/p2p/')[1])).toEqual([peerId('head.log'), peerId('standby/head.log')])

    await using pool = await createPool({ worker: WORKER, head: heads.join(','), password: PASSWORD, output: 'ignore' })
    await waitFor(async () => (await pool.nodesCount()) === 1, 30_000, 'the node job to join', detail)
    const results: Out[] = []
    for await (const out of pool.imapUnordered(Array.from({ length: 200 }, (_, x) => ({ x, delayMs: 10 })))) {
      results.push(out as Out)
      // The head job's node goes down: its script and the primary head with it.
      if (results.length === 50) process.kill(-(headJob.pid as number), 'SIGKILL')
    }
    expect(results.map((r) => r.x).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, x) => x))
    expect(readFileSync(join(state, 'standby', 'head.log'), 'utf8')).toMatch(/takes over/)
    expect(await pool.nodesCount()).toBe(1)
  }, 120_000)
})

import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createPool, type Pool } from 'meshpool'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { BIN, meshpool, PASSWORD, stopAll, waitFor } from './harness.js'
import { SlurmCluster } from './slurm-cluster.js'

const WORKER = new URL('./fixtures/slurm-worker.js', import.meta.url)
const FAKE_NVIDIA_SMI = fileURLToPath(new URL('./fixtures/fake-nvidia-smi.mjs', import.meta.url))

interface Out {
  x: number
  y: number
  node: string
  task: string | null
  visible: string | null
  gpu: number | null
}

// Three CPUs: the head's one and one for each node, as a small partition has them. The old
// defaults (2 for the head, 8 per node) left the array waiting here forever.
const CPUS = 3
const clusters: SlurmCluster[] = []
// stop() is idempotent: this stops a cluster whose test ran out of time before its own finally.
afterAll(() => Promise.all(clusters.map((cluster) => cluster.stop())), 60_000)
afterEach(stopAll)

/** What the jobs wrote (their output, the head's log), for a failure message. */
function jobOutput(dir: string): string {
  const home = join(dir, 'home', '.meshpool')
  const logs = existsSync(home) ? readdirSync(home).map((job) => join(home, job, 'head.log')) : []
  const outs = readdirSync(dir)
    .filter((file) => /^(head|slurm)-.*\.out$/.test(file))
    .map((file) => join(dir, file))
  return [...outs, ...logs.filter(existsSync)].map((file) => `--- ${file}\n${readFileSync(file, 'utf8')}`).join('\n')
}

/**
 * Prints the script as a user would (`--workers 2 --gpus-per-worker 1`, every other flag at its
 * default but a free port) and submits it with sbatch; returns where the head will write its address.
 */
async function submitScript(cluster: SlurmCluster): Promise<string> {
  const { dir } = cluster
  const args = ['slurm', '--workers', '2', '--gpus-per-worker', '1', '--port', '0']
  const proc = meshpool([...args, '--meshpool', `${process.execPath} ${BIN}`])
  expect(await proc.exited, proc.output()).toBe(0)
  const script = join(dir, 'meshpool.sbatch')
  writeFileSync(script, proc.output())

  // The node's nvidia-smi lists the two GPUs Slurm knows; sbatch passes this environment on to the jobs.
  const bin = join(dir, 'bin')
  const home = join(dir, 'home')
  mkdirSync(bin)
  mkdirSync(home)
  writeFileSync(join(bin, 'nvidia-smi'), `#!/bin/sh\nexec '${process.execPath}' '${FAKE_NVIDIA_SMI}' "$@"\n`)
  chmodSync(join(bin, 'nvidia-smi'), 0o755)
  const env = { PATH: `${bin}:${process.env.PATH}`, HOME: home, TMPDIR: home, FAKE_NVIDIA_SMI_COUNT: '2' }
  const headJob = cluster.run('sbatch', ['--parsable', '--output', join(dir, 'head-%j.out'), script], {
    ...env,
    MESHPOOL_PASSWORD: PASSWORD,
  })
  return join(home, '.meshpool', `slurm-${headJob.trim()}`, 'address')
}

/**
 * Maps `total` jobs; once both nodes have results, scancels array task 2 (its node gets what
 * Slurm sends a cancelled job: SIGTERM, SIGKILL after KillWait). Returns the results in the
 * order they came, how many had come at the cancel, and how many by when the head had seen
 * the node leave (if it left before the map ended).
 */
async function mapCancellingTask2(cluster: SlurmCluster, pool: Pool, nodesJob: string, total: number) {
  const results: Out[] = []
  let cancelledAt = -1
  let goneAt: number | undefined
  const inputs = Array.from({ length: total }, (_, x) => ({ x, delayMs: 25 }))
  for await (const out of pool.imapUnordered(inputs) as AsyncIterable<Out>) {
    results.push(out)
    if (cancelledAt < 0 && results.filter((r) => r.task === '2').length >= 5 && results.some((r) => r.task === '1')) {
      cluster.run('scancel', [`${nodesJob}_2`])
      cancelledAt = results.length
    } else if (cancelledAt > 0 && goneAt === undefined && results.length % 5 === 0) {
      if ((await pool.nodesCount()) === 1) goneAt = results.length
    }
  }
  return { results, cancelledAt, goneAt }
}

describe('meshpool slurm on a real Slurm cluster', () => {
  it('runs the printed script with its defaults; a client maps through the address file; scancel of one node mid-map loses no result and runs none twice', async () => {
    const cluster = new SlurmCluster()
    clusters.push(cluster)
    try {
      await cluster.start({ cpus: CPUS })
      await mapsThroughSlurm(cluster)
    } finally {
      await cluster.stop()
    }
  }, 120_000)
})

describe('the Slurm test where slurmd cannot run', () => {
  it('fails saying why, and leaves nothing behind', async () => {
    const cluster = new SlurmCluster()
    vi.spyOn(process, 'getuid').mockReturnValue(1000)
    try {
      await expect(cluster.start({ cpus: CPUS })).rejects.toThrow(
        'a real Slurm cluster needs root (slurmd starts jobs as their users), and this test runs as uid 1000: run it as root, as CI does',
      )
    } finally {
      vi.restoreAllMocks()
      await cluster.stop()
    }
    expect(existsSync(cluster.dir)).toBe(false)
  })
})

/** Submits the script, maps from a client through its address file, and cancels one node mid-map. */
async function mapsThroughSlurm(cluster: SlurmCluster): Promise<void> {
  const { dir } = cluster
  const addressFile = await submitScript(cluster)
  const queue = () => {
    try {
      return cluster.run('squeue', [])
    } catch (err) {
      return String(err)
    }
  }
  const detail = () => `${queue()}\n${jobOutput(dir)}\n${cluster.logs()}`
  await waitFor(() => existsSync(addressFile), 30_000, 'the head job to write its address', detail)
  const address = readFileSync(addressFile, 'utf8').trim()

  await using pool = await createPool({ worker: WORKER, head: address, password: PASSWORD, output: 'ignore' })
  await waitFor(async () => (await pool.nodesCount()) === 2, 30_000, 'both array tasks to join', detail)
  const nodesJob = /^\s*(\d+)_1\s/m.exec(cluster.run('squeue', ['-h', '-o', '%i ']))?.[1] as string
  expect(nodesJob, detail()).toBeDefined()

  const total = 160
  const { results, cancelledAt, goneAt } = await mapCancellingTask2(cluster, pool, nodesJob, total)
  // The cancelled node left mid-map, and still every job's result arrived exactly once.
  expect(cancelledAt).toBeGreaterThan(0)
  expect(cancelledAt).toBeLessThan(total / 4)
  expect(goneAt, 'the cancelled node left the mesh before the map ended').toBeDefined()
  expect(results.map((r) => r.x).sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, x) => x))
  for (const r of results) expect(r.y).toBe(r.x * 2)
  // The surviving node ran the rest; the cancelled one left the queue too.
  expect(results.slice(goneAt).every((r) => r.task === '1')).toBe(true)
  expect(cluster.run('squeue', ['-h', '-o', '%i'])).not.toContain(`${nodesJob}_2`)

  // Each node ran one slot, on the GPU Slurm gave its array task, not on every GPU of the machine.
  for (const task of ['1', '2']) {
    const ran = results.filter((r) => r.task === task)
    expect(new Set(ran.map((r) => r.node)).size).toBe(1)
    expect(new Set(ran.map((r) => r.visible)).size).toBe(1)
    expect(String(ran[0]?.gpu)).toBe(ran[0]?.visible)
  }
  const gpus = ['1', '2'].map((task) => results.find((r) => r.task === task)?.visible)
  expect(gpus.sort()).toEqual(['0', '1'])
}

import { createPool } from 'meshpool'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { fakeNvidiaSmiDir } from './fixtures/fake-gpus.js'
import { meshpool, PASSWORD, startHead, stopAll, tempDir } from './harness.js'

const GPU_WORKER = new URL('./fixtures/gpu-worker.js', import.meta.url)

interface Seen {
  slot: number
  node: string
  gpu: { index: number; uuid: string; name: string } | null
  visible: string | null
  order: string | null
}

let fakeDir: string
beforeAll(async () => {
  fakeDir = await fakeNvidiaSmiDir()
})
afterEach(stopAll)

/** `meshpool join` on a machine whose nvidia-smi is the fake (four H100s, GPU 2 nearly full). */
async function joinGpuNode(address: string, args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const proc = meshpool(['join', address, ...args], { PATH: `${fakeDir}:${process.env.PATH}`, ...env })
  await proc.waitForLine(/^ready$/)
  return proc
}

/** Runs jobs long enough that every slot takes some; returns what each slot saw, by slot. */
async function seenBySlot(address: string, slots: number): Promise<Map<number, Seen>> {
  await using pool = await createPool({ worker: GPU_WORKER, head: address, password: PASSWORD })
  const seen = (await pool.map(Array.from({ length: slots * 4 }, () => ({ delayMs: 150 })))) as Seen[]
  return new Map(seen.map((s) => [s.slot, s]))
}

describe('GPU slots', () => {
  it('a node runs one slot per GPU, each seeing only its own', async () => {
    const head = await startHead({ noWork: true })
    const node = await joinGpuNode(head.address)
    expect(node.output()).toMatch(/with 4 slots \(GPU 0 NVIDIA H100 80GB HBM3, GPU 1 .*GPU 3 /)
    const bySlot = await seenBySlot(head.address, 4)
    expect([...bySlot.keys()].sort()).toEqual([0, 1, 2, 3])
    for (const [slot, seen] of bySlot) {
      expect(seen.visible).toBe(String(slot))
      expect(seen.order).toBe('PCI_BUS_ID')
      expect(seen.gpu).toMatchObject({ index: slot, name: 'NVIDIA H100 80GB HBM3' })
      expect(seen.gpu?.uuid).toMatch(/^GPU-/)
    }
  })

  it('--gpus 1,3 runs two slots on those GPUs', async () => {
    const head = await startHead({ noWork: true })
    const node = await joinGpuNode(head.address, ['--gpus', '1,3'])
    expect(node.output()).toMatch(/with 2 slots \(GPU 1 .*, GPU 3 /)
    const bySlot = await seenBySlot(head.address, 2)
    expect([...bySlot.values()].map((seen) => seen.visible).sort()).toEqual(['1', '3'])
  })

  it('--min-gpu-memory skips the GPU with too little free memory, and says so', async () => {
    const head = await startHead({ noWork: true })
    const node = await joinGpuNode(head.address, ['--min-gpu-memory', '4096'])
    // On stderr, a pipe of its own: wait for it rather than assume it came before `ready` on stdout.
    await node.waitForLine(/skipping GPU 2 has 1559 MB free, under --min-gpu-memory 4096/)
    expect(node.output()).toMatch(/with 3 slots \(GPU 0 .*, GPU 1 .*, GPU 3 /)
  })

  it('a failing nvidia-smi falls back to CPU slots, with one line saying why', async () => {
    const head = await startHead({ noWork: true })
    const node = await joinGpuNode(head.address, [], { FAKE_NVIDIA_SMI_MODE: 'fail' })
    await node.waitForLine(/no GPUs \(nvidia-smi failed: NVIDIA-SMI has failed.*\): running \d+ CPU slot/)
    const bySlot = await seenBySlot(head.address, 1)
    for (const seen of bySlot.values()) {
      expect(seen.gpu).toBeNull()
      expect(seen.visible).toBeNull()
    }
  })

  it('--gpus and --slots together are refused', async () => {
    const proc = meshpool(['join', '/ip4/127.0.0.1/tcp/1/p2p/x', '--gpus', 'all', '--slots', '2'])
    expect(await proc.exited).toBe(2)
    expect(proc.output()).toMatch(/--slots.*cannot be used with.*--gpus/)
  })

  it('a bad --gpus list is refused with the accepted forms', async () => {
    const proc = meshpool(['join', '/ip4/127.0.0.1/tcp/1/p2p/x', '--gpus', 'first'])
    expect(await proc.exited).toBe(2)
    expect(proc.output()).toMatch(/--gpus must be "all", "none" or a comma list of GPU indexes like 0,2; got "first"/)
  })
})

describe('one node per machine', () => {
  it('a second join says a node is running and exits 0; after kill -9 of the first, a new join takes over', async () => {
    const head = await startHead({ noWork: true })
    const stateDir = tempDir()
    const first = meshpool(['join', head.address, '--slots', '1'], { MESHPOOL_STATE_DIR: stateDir })
    await first.waitForLine(/^ready$/)
    const second = meshpool(['join', head.address, '--slots', '1'], { MESHPOOL_STATE_DIR: stateDir })
    expect(await second.exited).toBe(0)
    expect(second.output()).toContain(`a meshpool node is already running here (pid ${first.child.pid}`)
    expect(second.output()).toContain(`joined to ${head.address}`)
    first.child.kill('SIGKILL')
    await first.exited
    const third = meshpool(['join', head.address, '--slots', '1', '--state-dir', stateDir])
    await third.waitForLine(/^ready$/)
  })
})

describe('GPU nodes from launchWorkers and in meshpool status', () => {
  it('launchWorkers({ gpus }) starts nodes with one slot per chosen GPU, and listWorkers shows each slot’s GPU', async () => {
    const head = await startHead({ noWork: true })
    await using pool = await createPool({
      worker: GPU_WORKER,
      head: head.address,
      password: PASSWORD,
      output: 'ignore',
    })
    const [launched] = await pool.launchWorkers({ n: 1, gpus: '1,3', env: { PATH: `${fakeDir}:${process.env.PATH}` } })
    const [node] = await pool.listWorkers()
    expect(node?.nodeId).toBe(launched?.nodeId)
    expect(node?.slots.map((s) => s.gpu?.index)).toEqual([1, 3])
    expect(node?.slots.every((s) => s.gpu?.name === 'NVIDIA H100 80GB HBM3' && s.gpu.memoryMB > 80_000)).toBe(true)
    const seen = (await pool.map(Array.from({ length: 8 }, () => ({ delayMs: 150 })))) as Seen[]
    expect(new Set(seen.map((s) => s.visible))).toEqual(new Set(['1', '3']))
  })
})

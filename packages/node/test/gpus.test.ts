import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InvalidOptionError } from '@meshpool/core'
import { describe, expect, it } from 'vitest'
import { fakeNvidiaSmiDir } from '../../../test/fixtures/fake-gpus.js'
import { detectGpus, gpuSlotEnv, parseGpuSelection, selectGpus } from '../src/node/gpus.js'
import type { GpuInfo } from '../src/worker-types.js'

async function fakeEnv(extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  return { ...process.env, PATH: `${await fakeNvidiaSmiDir()}:${process.env.PATH}`, ...extra }
}

function gpu(index: number, memoryUsedMB = 1024): GpuInfo {
  return { index, uuid: `GPU-${index}`, name: 'NVIDIA H100 80GB HBM3', memoryTotalMB: 81559, memoryUsedMB }
}

describe('detectGpus', () => {
  it('lists the GPUs nvidia-smi reports', async () => {
    const { gpus, reason } = await detectGpus({ env: await fakeEnv() })
    expect(reason).toBeUndefined()
    expect(gpus.map((g) => g.index)).toEqual([0, 1, 2, 3])
    expect(gpus[2]).toEqual({
      index: 2,
      uuid: 'GPU-33333333-aaaa-bbbb-cccc-000000000002',
      name: 'NVIDIA H100 80GB HBM3',
      memoryTotalMB: 81559,
      memoryUsedMB: 80000,
    })
    const two = await detectGpus({ env: await fakeEnv({ FAKE_NVIDIA_SMI_COUNT: '2' }) })
    expect(two.gpus).toHaveLength(2)
  })

  it('gives no GPUs and the driver message when nvidia-smi fails', async () => {
    const { gpus, reason } = await detectGpus({ env: await fakeEnv({ FAKE_NVIDIA_SMI_MODE: 'fail' }) })
    expect(gpus).toEqual([])
    expect(reason).toMatch(/^nvidia-smi failed: NVIDIA-SMI has failed because it couldn't communicate/)
  })

  it('says so when nvidia-smi is not on PATH', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'meshpool-no-gpus-'))
    expect(await detectGpus({ env: { ...process.env, PATH: empty } })).toEqual({
      gpus: [],
      reason: 'no nvidia-smi on PATH',
    })
  })

  it('says so when nvidia-smi lists no GPUs', async () => {
    const { gpus, reason } = await detectGpus({ env: await fakeEnv({ FAKE_NVIDIA_SMI_MODE: 'empty' }) })
    expect(gpus).toEqual([])
    expect(reason).toMatch(/lists no GPUs/)
  })

  it('reports unparseable output and timeouts as failures', async () => {
    const garbage = await detectGpus({ command: 'echo', env: process.env })
    expect(garbage.gpus).toEqual([])
    expect(garbage.reason).toMatch(/^nvidia-smi failed: unparseable output/)
    const slow = await detectGpus({ env: await fakeEnv({ FAKE_NVIDIA_SMI_MODE: 'hang' }), timeoutMs: 300 })
    expect(slow.gpus).toEqual([])
    expect(slow.reason).toBe('nvidia-smi failed: timed out after 300 ms')
  })
})

describe('parseGpuSelection', () => {
  it('accepts all, none and lists of distinct indexes', () => {
    expect(parseGpuSelection('all')).toBe('all')
    expect(parseGpuSelection('none')).toBe('none')
    expect(parseGpuSelection('0,2')).toEqual([0, 2])
    expect(parseGpuSelection('3')).toEqual([3])
    expect(parseGpuSelection(' 1, 0 ')).toEqual([1, 0])
  })

  it('refuses anything else, naming the accepted forms', () => {
    for (const bad of ['', 'x', '0,,2', '0,', '-1', '1.5', '0,0', 'all,0', 'ALL']) {
      expect(() => parseGpuSelection(bad), bad).toThrow(InvalidOptionError)
    }
    expect(() => parseGpuSelection('x')).toThrow(
      '--gpus must be "all", "none" or a comma list of GPU indexes like 0,2; got "x"',
    )
    expect(() => parseGpuSelection('1,1')).toThrow(/listed twice/)
  })
})

describe('selectGpus', () => {
  const gpus = [gpu(0), gpu(1), gpu(2, 80000), gpu(3)]

  it('chooses all, none, or the listed indexes', () => {
    expect(selectGpus(gpus, 'all').chosen).toEqual(gpus)
    expect(selectGpus(gpus, 'none')).toEqual({ chosen: [], skipped: [], missing: [] })
    expect(selectGpus(gpus, [3, 1])).toEqual({ chosen: [gpus[3], gpus[1]], skipped: [], missing: [] })
  })

  it('reports listed indexes that are not present', () => {
    expect(selectGpus(gpus, [1, 7, 9])).toEqual({ chosen: [gpus[1]], skipped: [], missing: [7, 9] })
  })

  it('skips GPUs with too little free memory', () => {
    const { chosen, skipped, missing } = selectGpus(gpus, 'all', 4096)
    expect(chosen.map((g) => g.index)).toEqual([0, 1, 3])
    expect(skipped).toEqual([{ gpu: gpus[2], why: 'GPU 2 has 1559 MB free, under --min-gpu-memory 4096' }])
    expect(missing).toEqual([])
  })
})

describe('gpuSlotEnv', () => {
  it('pins the slot to the GPU by its nvidia-smi index', () => {
    expect(gpuSlotEnv(gpu(2))).toEqual({ CUDA_DEVICE_ORDER: 'PCI_BUS_ID', CUDA_VISIBLE_DEVICES: '2' })
  })
})

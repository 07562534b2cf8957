import { execFile } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { InvalidOptionError } from '@meshpool/core'
import type { GpuInfo } from '../worker-types.js'

/** The GPUs nvidia-smi reports; `reason` says why the list is empty when it is. */
export type GpuDetection = { gpus: GpuInfo[]; reason?: string }

/** Which GPUs a node uses: all of them, none of them, or these nvidia-smi indexes. */
export type GpuSelection = 'all' | 'none' | number[]

/** The GPUs a selection picked, those dropped for lack of free memory, and asked-for indexes not present. */
export type GpuChoice = { chosen: GpuInfo[]; skipped: Array<{ gpu: GpuInfo; why: string }>; missing: number[] }

const QUERY = ['--query-gpu=index,uuid,name,memory.total,memory.used', '--format=csv,noheader,nounits']

/** Parses nvidia-smi's `csv,noheader,nounits` lines; null if any line is malformed. */
function parseGpuLines(stdout: string): GpuInfo[] | null {
  const gpus: GpuInfo[] = []
  for (const line of stdout.split(/\r?\n/)) {
    if (line.trim() === '') continue
    const fields = line.split(',').map((field) => field.trim())
    if (fields.length < 5) return null
    const [indexText, uuid] = fields as [string, string]
    const name = fields.slice(2, -2).join(', ')
    const [totalText, usedText] = fields.slice(-2) as [string, string]
    const numbers = [indexText, totalText, usedText]
    if (!numbers.every((text) => /^\d+$/.test(text)) || uuid === '' || name === '') return null
    gpus.push({
      index: Number(indexText),
      uuid,
      name,
      memoryTotalMB: Number(totalText),
      memoryUsedMB: Number(usedText),
    })
  }
  return gpus
}

function firstLine(text: string | undefined): string {
  return (
    (text ?? '')
      .split('\n')
      .find((line) => line.trim() !== '')
      ?.trim() ?? ''
  )
}

/**
 * Lists the machine's NVIDIA GPUs by running nvidia-smi (looked up on `env.PATH`).
 * Never throws: on any failure it returns no GPUs and a one-line reason.
 */
export async function detectGpus(
  options: { command?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<GpuDetection> {
  const { command = 'nvidia-smi', env = process.env, timeoutMs = 10_000 } = options
  return new Promise((resolve) => {
    execFile(command, QUERY, { env, timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          resolve({ gpus: [], reason: 'no nvidia-smi on PATH' })
          return
        }
        const why = error.killed
          ? `timed out after ${timeoutMs} ms`
          : firstLine(stderr) || firstLine(stdout) || firstLine(error.message)
        resolve({ gpus: [], reason: `nvidia-smi failed: ${why}` })
        return
      }
      const gpus = parseGpuLines(stdout)
      if (gpus === null) resolve({ gpus: [], reason: `nvidia-smi failed: unparseable output: ${firstLine(stdout)}` })
      else if (gpus.length === 0) resolve({ gpus: [], reason: 'nvidia-smi lists no GPUs' })
      else resolve({ gpus })
    })
  })
}

/** Parses a `--gpus` value: "all", "none", or a comma list of distinct GPU indexes like "0,2". */
export function parseGpuSelection(text: string): GpuSelection {
  const value = text.trim()
  if (value === 'all' || value === 'none') return value
  const fail = (problem: string): never => {
    throw new InvalidOptionError(
      `--gpus must be "all", "none" or a comma list of GPU indexes like 0,2; got ${JSON.stringify(text)}${problem}`,
    )
  }
  const indexes: number[] = []
  for (const entry of value.split(',').map((part) => part.trim())) {
    if (!/^\d+$/.test(entry)) fail(entry === '' ? ' (empty entry)' : '')
    const index = Number(entry)
    if (!Number.isSafeInteger(index)) fail('')
    if (indexes.includes(index)) fail(` (GPU ${index} is listed twice)`)
    indexes.push(index)
  }
  return indexes
}

/**
 * Applies a selection to the detected GPUs, then moves any chosen GPU with less than
 * `minFreeMB` free memory to `skipped`. Asked-for indexes not present go to `missing`.
 */
export function selectGpus(gpus: GpuInfo[], selection: GpuSelection, minFreeMB = 0): GpuChoice {
  let picked: GpuInfo[] = []
  const missing: number[] = []
  if (selection === 'all') picked = [...gpus]
  else if (selection !== 'none') {
    for (const index of selection) {
      const gpu = gpus.find((candidate) => candidate.index === index)
      if (gpu) picked.push(gpu)
      else missing.push(index)
    }
  }
  const chosen: GpuInfo[] = []
  const skipped: GpuChoice['skipped'] = []
  for (const gpu of picked) {
    const free = gpu.memoryTotalMB - gpu.memoryUsedMB
    if (free < minFreeMB) {
      skipped.push({ gpu, why: `GPU ${gpu.index} has ${free} MB free, under --min-gpu-memory ${minFreeMB}` })
    } else chosen.push(gpu)
  }
  return { chosen, skipped, missing }
}

/** The environment that pins a slot process to one GPU, by its nvidia-smi index (PCI bus order). */
export function gpuSlotEnv(gpu: GpuInfo): Record<string, string> {
  return { CUDA_DEVICE_ORDER: 'PCI_BUS_ID', CUDA_VISIBLE_DEVICES: String(gpu.index) }
}

/** What a node runs: one slot per GPU in `gpus`, else `slots` CPU slots; `notes` are lines for the user. */
export interface SlotPlan {
  gpus: GpuInfo[]
  slots: number
  notes: string[]
}

/**
 * Decides a node's slots from its options. `--slots` alone means CPU slots
 * (nothing detected); otherwise the selected GPUs (default: all) that have
 * `minGpuMemoryMB` free, one slot each. With no GPU to use (no nvidia-smi, a
 * failing one, none selected or left) it falls back to `cpuSlots` CPU slots
 * and says why in one line.
 */
export async function planSlots(options: {
  cpuSlots: number
  slotsGiven?: boolean
  gpus?: GpuSelection | undefined
  minGpuMemoryMB?: number | undefined
  env?: NodeJS.ProcessEnv
}): Promise<SlotPlan> {
  const cpu = (note?: string): SlotPlan => ({
    gpus: [],
    slots: options.cpuSlots,
    notes: note === undefined ? [] : [`${note}: running ${options.cpuSlots} CPU slot(s)`],
  })
  const selection = options.gpus ?? 'all'
  if (selection === 'none' || (options.slotsGiven === true && options.gpus === undefined)) return cpu()
  const detected = await detectGpus(options.env === undefined ? {} : { env: options.env })
  if (detected.gpus.length === 0) return cpu(`no GPUs (${detected.reason})`)
  const choice = selectGpus(detected.gpus, selection, options.minGpuMemoryMB ?? 0)
  const notes = choice.skipped.map((skip) => `skipping ${skip.why}`)
  const present = detected.gpus.map((gpu) => gpu.index).join(', ')
  for (const index of choice.missing) notes.push(`there is no GPU ${index} on this machine (it has ${present})`)
  if (choice.chosen.length === 0) {
    const plan = cpu('no GPU left to use')
    return { ...plan, notes: [...notes, ...plan.notes] }
  }
  return { gpus: choice.chosen, slots: choice.chosen.length, notes }
}

/** The default number of CPU slots: cores minus one, at least one. */
export function defaultSlots(): number {
  return Math.max(1, availableParallelism() - 1)
}

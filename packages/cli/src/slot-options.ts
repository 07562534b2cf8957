import type { GpuInfo } from '@meshpool/node'
import { defaultSlots, type GpuSelection, parseGpuSelection, planSlots, type SlotPlan } from '@meshpool/node/gpus'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { integer } from './options.js'

export interface SlotFlags {
  slots?: number
  gpus?: GpuSelection
  minGpuMemory?: number
  slotUser?: string
}

/** Adds `--slots`, `--gpus`, `--min-gpu-memory` and `--slot-user` to a command that runs slots. */
export function withSlotOptions(command: Command, what: string): Command {
  return command
    .addOption(
      new Option('--slots <n>', `${what} CPU slots (default: cores minus one = ${defaultSlots()})`)
        .argParser(integer('--slots', { min: 1 }))
        .conflicts('gpus'),
    )
    .addOption(
      new Option(
        '--gpus <list>',
        'GPUs to run one slot each on: all, none, or indexes like 0,2 (default: all GPUs nvidia-smi lists, else CPU slots)',
      ).argParser(gpuSelection),
    )
    .option(
      '--min-gpu-memory <MB>',
      'skip GPUs with less free memory than this (default: use every GPU)',
      integer('--min-gpu-memory'),
    )
    .option(
      '--slot-user <user>',
      `run the ${what} slots as this user (the node runs as root), so shipped code can read neither the node's key files nor its /proc entries`,
    )
}

/** The slots the flags ask for, after GPU detection; prints why when it falls back to CPU slots. */
export async function resolveSlots(flags: SlotFlags): Promise<SlotPlan> {
  const plan = await planSlots({
    cpuSlots: flags.slots ?? defaultSlots(),
    slotsGiven: flags.slots !== undefined,
    gpus: flags.gpus,
    minGpuMemoryMB: flags.minGpuMemory,
  })
  for (const note of plan.notes) process.stderr.write(`${note}\n`)
  return plan
}

function gpuSelection(value: string): GpuSelection {
  try {
    return parseGpuSelection(value)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message)
  }
}

/** "1 slot", "4 slots", or "2 slots (GPU 0 NVIDIA H100, GPU 2 NVIDIA H100)". */
export function describeSlots(slots: number, gpus: readonly GpuInfo[]): string {
  if (gpus.length === 0) return countOf(slots, 'slot')
  return `${countOf(slots, 'slot')} (${gpus.map((gpu) => `GPU ${gpu.index} ${gpu.name}`).join(', ')})`
}

/** "1 slot", "2 slots". */
export function countOf(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

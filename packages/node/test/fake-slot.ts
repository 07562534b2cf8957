import { logger } from '@libp2p/logger'
import type { JobOutcome, LeasedJob, NodeMessage, PoolSpec } from '@meshpool/core'
import { NodePools } from '../src/node/node-pools.js'
import { Slot } from '../src/node/slot.js'
import type { SlotChild, SlotProcessEvents } from '../src/node/slot-process.js'
import type { SlotEvents } from '../src/node/slot-types.js'
import { SlotWaits } from '../src/node/slot-waits.js'
import type { FromSlot, ToSlot } from '../src/slot/protocol.js'

/** A slot process that records what it is sent; the test plays the process's side. */
export class FakeProcess implements SlotChild {
  lastStarted: number | undefined
  readonly sent: ToSlot[] = []
  starts = 0
  kills = 0
  stops = 0
  running = false
  readonly #events: SlotProcessEvents

  constructor(events: SlotProcessEvents) {
    this.#events = events
  }

  start(): void {
    this.starts++
    this.running = true
    this.lastStarted = undefined
  }

  send(message: ToSlot): void {
    if (this.running) this.sent.push(message)
  }

  /** Counts the kill: the test says when the process is gone (`exit`), as the OS does later. */
  kill(): void {
    this.kills++
  }

  async stop(): Promise<void> {
    this.stops++
    this.running = false
  }

  /** The process says something. */
  tell(message: FromSlot): void {
    this.#events.message(message)
  }

  /** The process starts a job (as the slot writes its id to STARTED_FD). */
  begin(jobId: number): void {
    this.lastStarted = jobId
  }

  /** The process dies. */
  exit(description = 'slot 0 exited with code 1'): void {
    if (!this.running) return
    this.running = false
    this.#events.exit(description)
  }

  /** What it was sent of one type. */
  of<T extends ToSlot['type']>(type: T): Array<Extract<ToSlot, { type: T }>> {
    return this.sent.filter((m): m is Extract<ToSlot, { type: T }> => m.type === type)
  }
}

export const spec = (poolId = 1, more: Partial<PoolSpec> = {}): PoolSpec => ({
  poolId,
  worker: '/w.js',
  init: new Uint8Array(),
  leaseMs: 3000,
  ...more,
})

export const job = (jobId: number, more: Partial<LeasedJob> = {}): LeasedJob => ({
  jobId,
  leaseId: jobId,
  poolId: 1,
  attempt: 1,
  updateSeq: 0,
  timeoutMs: 0,
  params: new Uint8Array([jobId]),
  ...more,
})

/** What slots told the node, in order. */
export interface Told {
  outcomes: JobOutcome[]
  released: number[][]
  notices: string[]
  cannotStart: Array<{ poolId: number; message: string }>
  broken: number
  changed: number
  /** Messages the node sent its head (the pools' load failures). */
  head: NodeMessage[]
}

export const log = logger('meshpool:test')

/** The node's pools, over a fake head connection; `modulePath` as given (the client's path by default). */
export function fakePools(told: Told, modulePath = async (s: PoolSpec) => s.worker): NodePools {
  const connection = {}
  return new NodePools({
    modulePath,
    head: { send: (message) => told.head.push(message), connection },
    notice: (text) => told.notices.push(text),
    log,
  })
}

export function newTold(): Told {
  return { outcomes: [], released: [], notices: [], cannotStart: [], broken: 0, changed: 0, head: [] }
}

/** Slots over fake processes sharing one set of pools and waits; `changed` is what the node does then. */
export function fakeSlots(
  count: number,
  pools: NodePools,
  told: Told,
  changed: () => void = () => {},
): { slots: Slot[]; processes: FakeProcess[]; waits: SlotWaits } {
  const waits = new SlotWaits()
  const processes: FakeProcess[] = []
  const events: SlotEvents = {
    outcome: (outcome) => told.outcomes.push(outcome),
    release: (jobIds) => told.released.push(jobIds),
    progress: () => {},
    output: () => {},
    notice: (text) => told.notices.push(text),
    cannotStart: (poolId, message) => {
      told.cannotStart.push({ poolId, message })
      pools.cannotStart(poolId, message)
    },
    disposed: () => {},
    changed: () => {
      told.changed++
      changed()
    },
    broken: () => told.broken++,
  }
  const slots = Array.from(
    { length: count },
    (_, index) =>
      new Slot({
        index,
        gpu: null,
        process: (processEvents) => {
          const fake = new FakeProcess(processEvents)
          processes[index] = fake
          return fake
        },
        pools,
        shared: async (_poolId, hash) => {
          throw new Error(`no shared value ${hash}`)
        },
        nodeId: () => 'node-1',
        waits,
        events,
        log,
      }),
  )
  return { slots, processes, waits }
}

/** Lets the promises settle (a pool's code, already fetched, reaches the slot). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve()
}

import type { JobLedger, RoutedOutcome } from '@meshpool/core'
import type { HeadLog, NodeSession, Repeat } from './head-types.js'

/** How often the head looks for expired leases and due retries. */
export const TICK_MS = 100

export interface LeaseClockInit {
  ledger: Pick<JobLedger, 'renew' | 'tick' | 'overdueNodes'>
  /** The node of the mesh with this id, if it is in it. */
  nodeOf: (nodeId: string) => NodeSession | undefined
  now: () => number
  /** @default setInterval, unref'd */
  repeat?: Repeat
  /** After each tick: the jobs it failed (out of attempts), to route; retries that came due are queued. */
  onTick: (failed: RoutedOutcome[]) => void
  /** A node that had gone silent renews again: it may be given jobs. */
  onBack: (node: NodeSession) => void
  /** A node let its leases run out: it is silent now. */
  onSilent?: (node: NodeSession) => void
  log: HeadLog
}

/** setInterval that does not keep the process alive. */
const intervalRepeat: Repeat = (tick, ms) => {
  const timer = setInterval(tick, ms)
  timer.unref()
  return () => clearInterval(timer)
}

/**
 * The one place where leases are renewed and expire. A node's heartbeat
 * renews every lease it holds; each tick, leases not renewed within their
 * pool's leaseMs expire (the ledger puts their jobs back in the queue), and
 * a node that let them run out gets no jobs until it heartbeats again.
 */
export class LeaseClock {
  readonly #init: LeaseClockInit
  #stopTimer: (() => void) | undefined

  constructor(init: LeaseClockInit) {
    this.#init = init
  }

  start(): void {
    if (this.#stopTimer !== undefined) return
    this.#stopTimer = (this.#init.repeat ?? intervalRepeat)(() => this.tick(), TICK_MS)
  }

  stop(): void {
    this.#stopTimer?.()
    this.#stopTimer = undefined
  }

  /** A node's heartbeat: its leases run for their leaseMs from now, and a silent node is back. */
  renew(node: NodeSession): void {
    this.#init.ledger.renew(node.id)
    node.lastHeartbeat = this.#init.now()
    if (!node.silent) return
    node.silent = false
    this.#init.log('node %s is back', node.id)
    this.#init.onBack(node)
  }

  /** Expires the leases that ran out, and queues the retries that are due. */
  tick(): void {
    for (const nodeId of this.#init.ledger.overdueNodes()) {
      const node = this.#init.nodeOf(nodeId)
      if (node === undefined) continue
      // A frozen node would get its own expired jobs straight back: leave it out until it heartbeats.
      // Its credit stays: the node still counts it as asked for, and asks for no more while idle,
      // so a credit dropped here would leave it idle for good once it is back.
      node.silent = true
      this.#init.log('node %s stopped renewing its leases', nodeId)
      this.#init.onSilent?.(node)
    }
    this.#init.onTick(this.#init.ledger.tick())
  }
}

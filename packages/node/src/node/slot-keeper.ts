import type { Logger } from '@libp2p/interface'
import { restartAfter } from './slot-deaths.js'
import type { SlotChild } from './slot-process.js'

/** How long a worker's dispose() may take as maxJobsPerSlot replaces its process, before the process is killed. */
export const DISPOSE_GRACE_MS = 10_000

/**
 * Keeps one slot's process: starts it, restarts it after a crash (backing
 * off, and leaving it down after MAX_SLOT_CRASHES in a row with no job
 * finished between them), replaces it (maxJobsPerSlot), and stops it.
 */
export class SlotKeeper {
  readonly #index: number
  readonly #process: SlotChild
  /** The slot takes the fresh process (no worker loaded yet). */
  readonly #onFresh: () => void
  readonly #log: Logger
  #started = false
  #running = false
  #stopping = false
  #crashes = 0
  #restart: NodeJS.Timeout | undefined
  #replaceKill: NodeJS.Timeout | undefined

  constructor(index: number, process: SlotChild, onFresh: () => void, log: Logger) {
    this.#index = index
    this.#process = process
    this.#onFresh = onFresh
    this.#log = log
  }

  /** The process runs: started, and neither exited nor stopped. */
  get running(): boolean {
    return this.#running
  }

  /** The node stops: the process is not started again. */
  get stopping(): boolean {
    return this.#stopping
  }

  /** Starts the process (once: later starts are the keeper's own). */
  start(): void {
    if (this.#started) return
    this.#started = true
    this.#start()
  }

  #start(): void {
    if (this.#stopping) return
    this.#process.start()
    this.#running = true
    this.#onFresh()
  }

  /** A job finished: crashes in a row count from zero again. */
  jobDone(): void {
    this.#crashes = 0
  }

  /**
   * The process died: how many crashes in a row this makes (undefined when
   * the node stops). Unless that is too many, it starts again after its backoff.
   */
  exited(blameless: boolean): number | undefined {
    this.#running = false
    if (this.#stopping) return undefined
    if (!blameless) this.#crashes++
    const { broken, delayMs } = restartAfter(this.#crashes)
    if (!broken) this.#restart = setTimeout(() => this.#start(), delayMs).unref()
    return this.#crashes
  }

  /** Whether the slot stays down after the crash it just `exited` with (said loudly, once, if so). */
  broken(description: string): boolean {
    const crashes = this.#crashes
    if (!restartAfter(crashes).broken) return false
    this.#log.error(
      'slot %d is broken: it crashed %d times in a row (%s); not restarting it',
      this.#index,
      crashes,
      description,
    )
    process.emitWarning(
      `meshpool: slot ${this.#index} crashed ${crashes} times in a row (last: ${description}); it stays down`,
    )
    return true
  }

  /** The slot ran its pool's maxJobsPerSlot: its worker is being disposed of; kill the process if that hangs. */
  replacing(stillReplacing: () => boolean, jobsRun: number): void {
    this.#log('slot %d ran %d jobs: replacing its process (maxJobsPerSlot)', this.#index, jobsRun)
    // A dispose() that never returns doesn't keep the slot from its replacement.
    this.#replaceKill = setTimeout(() => {
      if (stillReplacing()) this.#process.kill()
    }, DISPOSE_GRACE_MS).unref()
  }

  /** The worker is disposed of: a fresh process takes the old one's place. `gone` is told in between. */
  replace(gone: () => void): void {
    void this.#process.stop().then(() => {
      this.#running = false
      gone()
      this.#start()
    })
  }

  /** The node begins to stop: the process is not started again. */
  beginStop(): void {
    this.#stopping = true
  }

  async stop(): Promise<void> {
    this.#stopping = true
    clearTimeout(this.#restart)
    clearTimeout(this.#replaceKill)
    await this.#process.stop()
  }
}

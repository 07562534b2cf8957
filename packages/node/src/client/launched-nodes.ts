import { InvalidOptionError } from '@meshpool/core'
import type { LaunchedWorker, LaunchHandle, LaunchOptions } from './launch.js'

/** Starts processes for launchWorkers (see launch). */
export type Launcher = (options: LaunchOptions) => Promise<LaunchHandle[]>

/** The processes a pool started with launchWorkers: they end when it closes. */
export class LaunchedNodes {
  readonly #launcher: Launcher | undefined
  /** Peer ids of the nodes this pool launched and has not stopped. */
  readonly #nodeIds = new Set<string>()
  readonly #processes: LaunchHandle[] = []

  /** No `launcher`: the pool has no head to join (an embedded one). */
  constructor(launcher: Launcher | undefined) {
    this.#launcher = launcher
  }

  /** Whether this pool launched the node, and has not stopped it. */
  has(nodeId: string): boolean {
    return this.#nodeIds.has(nodeId)
  }

  async launch(options: LaunchOptions): Promise<LaunchedWorker[]> {
    if (this.#launcher === undefined) {
      throw new InvalidOptionError(
        'launchWorkers needs a pool with a head: start `meshpool head` and pass its address as { head }',
      )
    }
    const started = await this.#launcher(options)
    for (const handle of started) {
      this.#processes.push(handle)
      if (handle.nodeId !== undefined) this.#nodeIds.add(handle.nodeId)
    }
    return started.map(({ kind, pid, nodeId, exited }) => ({
      kind,
      pid,
      exited,
      ...(nodeId === undefined ? {} : { nodeId }),
    }))
  }

  /**
   * Stops nodes gracefully (every node this pool launched, with no ids): those
   * it launched by a signal to their process, the others through
   * `stopOthers`. Resolves with the ids of the nodes that were there to stop.
   */
  async stop(nodeIds: string[], stopOthers: (ids: string[]) => Promise<string[]>): Promise<string[]> {
    const ids = nodeIds.length > 0 ? nodeIds : [...this.#nodeIds]
    const own = this.#processes.filter((h) => h.nodeId !== undefined && ids.includes(h.nodeId))
    const ownIds = new Set(own.map((h) => h.nodeId))
    const others = ids.filter((id) => !ownIds.has(id))
    const stopped = others.length === 0 ? [] : await stopOthers(others)
    const leaving = own.filter((h) => this.#nodeIds.delete(h.nodeId as string))
    for (const handle of leaving) void handle.stop() // SIGTERM: the node drains and leaves
    return ids.filter((id) => stopped.includes(id) || leaving.some((h) => h.nodeId === id))
  }

  /** Ends every process launched (the pool closes). */
  async stopAll(): Promise<void> {
    await Promise.all(this.#processes.map((handle) => handle.stop()))
  }
}

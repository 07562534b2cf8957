import type { ErrorShape } from '@meshpool/core'
import type { NodeSession } from './head-types.js'

/**
 * Where each pool reaches: the nodes it was sent to, and those where its
 * worker can't start. Kept per pool, with the count of working nodes (those
 * with a slot), so whether a pool can run anywhere is known without walking
 * the nodes. The one place that changes a node's `poolsSent` and `unloadable`.
 */
export class PoolReach {
  readonly #given = new Map<number, Set<NodeSession>>()
  /** Per pool: the working nodes where its worker can't start. */
  readonly #cannot = new Map<number, Set<NodeSession>>()
  #working = 0

  /** A node joined, or its count of working slots changed from `before`. */
  slotsChanged(node: NodeSession, before: number): void {
    const was = before > 0
    const is = node.slots > 0
    if (was === is) return
    this.#working += is ? 1 : -1
    for (const poolId of node.unloadable.keys()) this.#count(poolId, node, is)
  }

  /** A node left the mesh: it counts no more (what it was sent stays on its session, which is done). */
  left(node: NodeSession): void {
    if (node.slots > 0) this.#working--
    for (const poolId of node.poolsSent) this.#given.get(poolId)?.delete(node)
    for (const poolId of node.unloadable.keys()) this.#count(poolId, node, false)
  }

  /** Whether the node was sent the pool's spec; if not, it is now, so the caller sends it. */
  send(node: NodeSession, poolId: number): boolean {
    if (node.poolsSent.has(poolId)) return false
    node.poolsSent.add(poolId)
    let given = this.#given.get(poolId)
    if (given === undefined) {
      given = new Set()
      this.#given.set(poolId, given)
    }
    given.add(node)
    return true
  }

  /** The pool's worker can't start on the node; false: the node was not given it, or had said so. */
  cannotStart(node: NodeSession, poolId: number, error: ErrorShape): boolean {
    if (!node.poolsSent.has(poolId) || node.unloadable.has(poolId)) return false
    node.unloadable.set(poolId, error)
    if (node.slots > 0) this.#count(poolId, node, true)
    return true
  }

  /** The nodes the pool was sent to. */
  givenTo(poolId: number): ReadonlySet<NodeSession> {
    return this.#given.get(poolId) ?? new Set()
  }

  /** The pool closed: the nodes it was sent to forget it. Returns them. */
  close(poolId: number): NodeSession[] {
    const given = [...this.givenTo(poolId)]
    for (const node of given) {
      node.poolsSent.delete(poolId)
      node.unloadable.delete(poolId)
    }
    this.#given.delete(poolId)
    this.#cannot.delete(poolId)
    return given
  }

  /**
   * Why no working node can run the pool, when none can (the error of the
   * node that said so last); undefined while one can, or no node works.
   */
  unrunnable(poolId: number): ErrorShape | undefined {
    const cannot = this.#cannot.get(poolId)
    if (this.#working === 0 || cannot === undefined || cannot.size < this.#working) return undefined
    let error: ErrorShape | undefined
    for (const node of cannot) error = node.unloadable.get(poolId)
    return error
  }

  /** Whether any joined node has a working slot. */
  get anyWorking(): boolean {
    return this.#working > 0
  }

  #count(poolId: number, node: NodeSession, add: boolean): void {
    let cannot = this.#cannot.get(poolId)
    if (add) {
      if (cannot === undefined) {
        cannot = new Set()
        this.#cannot.set(poolId, cannot)
      }
      cannot.add(node)
    } else cannot?.delete(node)
  }
}

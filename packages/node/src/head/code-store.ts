import { codeHash } from '../net/code-hash.js'

/** The head's shipped worker modules, by hash, each kept while a pool uses it. */
export class CodeStore {
  readonly #entries = new Map<string, { code: Uint8Array; pools: Set<number> }>()

  /** Keeps a pool's code; returns its hash (computed here: a client's word is not taken for it). */
  add(poolId: number, code: Uint8Array): string {
    const hash = codeHash(code)
    const entry = this.#entries.get(hash)
    if (entry === undefined) this.#entries.set(hash, { code, pools: new Set([poolId]) })
    else entry.pools.add(poolId)
    return hash
  }

  /** A pool closed: its code goes once no other pool uses it. */
  release(poolId: number, hash: string): void {
    const entry = this.#entries.get(hash)
    if (entry === undefined) return
    entry.pools.delete(poolId)
    if (entry.pools.size === 0) this.#entries.delete(hash)
  }

  get(hash: string): Uint8Array | undefined {
    return this.#entries.get(hash)?.code
  }
}

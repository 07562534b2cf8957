import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { WorkerLoadError } from '@meshpool/core'
import { codeHash } from './ship.js'

/**
 * A node's cache of shipped worker modules: one file per hash in `dir`,
 * fetched once (from the head) and kept across pools and restarts.
 */
export class CodeCache {
  readonly #dir: string
  readonly #fetch: (hash: string) => Promise<Uint8Array | undefined>
  readonly #pending = new Map<string, Promise<string>>()

  constructor(dir: string, fetch: (hash: string) => Promise<Uint8Array | undefined>) {
    this.#dir = dir
    this.#fetch = fetch
  }

  /** The path of the module with this hash, fetched first if this node doesn't have it. */
  path(hash: string): Promise<string> {
    let pending = this.#pending.get(hash)
    if (pending === undefined) {
      pending = this.#get(hash)
      this.#pending.set(hash, pending)
      // A failed fetch may be tried again by a later pool.
      pending.catch(() => this.#pending.delete(hash))
    }
    return pending
  }

  async #get(hash: string): Promise<string> {
    const file = join(this.#dir, `${hash}.mjs`)
    if (existsSync(file)) return file
    const code = await this.#fetch(hash)
    if (code === undefined) throw new WorkerLoadError(`the head has no shipped code ${hash.slice(0, 12)}…`)
    if (codeHash(code) !== hash) throw new WorkerLoadError(`shipped code ${hash.slice(0, 12)}… arrived corrupted`)
    await mkdir(this.#dir, { recursive: true, mode: 0o700 })
    // Several nodes (tests, launchers) may share a folder, even a process: a temp name of its own each.
    const temp = `${file}.${process.pid}.${randomUUID()}.tmp`
    await writeFile(temp, code, { mode: 0o600 })
    await rename(temp, file)
    return file
  }
}

import { randomUUID } from 'node:crypto'
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { WorkerLoadError } from '@meshpool/core'
import { codeHash } from '../net/code-hash.js'

/**
 * A node's cache of shipped worker modules: one file per hash in `dir`,
 * fetched once (from the head) and kept across pools and restarts. A cached
 * file is checked against its hash each time it is loaded: one whose bytes
 * changed on disk is deleted and fetched again, never run.
 */
export class CodeCache {
  readonly #dir: string
  readonly #fetch: (hash: string) => Promise<Uint8Array | undefined>
  readonly #onLine: ((line: string) => void) | undefined
  readonly #pending = new Map<string, Promise<string>>()

  constructor(dir: string, fetch: (hash: string) => Promise<Uint8Array | undefined>, onLine?: (line: string) => void) {
    this.#dir = dir
    this.#fetch = fetch
    this.#onLine = onLine
  }

  /** The path of the module with this hash, checked or fetched first: callers load it right after. */
  path(hash: string): Promise<string> {
    let pending = this.#pending.get(hash)
    if (pending === undefined) {
      pending = this.#get(hash)
      this.#pending.set(hash, pending)
      // Only loads at the same moment share a check; a later load checks the file again.
      const forget = () => this.#pending.delete(hash)
      pending.then(forget, forget)
    }
    return pending
  }

  async #get(hash: string): Promise<string> {
    const file = join(this.#dir, `${hash}.mjs`)
    const cached = await readIfThere(file)
    if (cached !== undefined) {
      if (codeHash(cached) === hash) return file
      await unlink(file).catch(() => {})
      this.#onLine?.(
        `the cached code ${file} does not match its sha-256 (it changed on disk): deleted it, fetching it again`,
      )
    }
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

async function readIfThere(file: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

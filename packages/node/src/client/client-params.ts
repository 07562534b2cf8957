import { type BlobRef, MAX_BLOB_VALUE_BYTES, UnsendableValueError } from '@meshpool/core'
import { codeHash } from '../net/code-hash.js'

interface Held {
  data: Uint8Array
  /** Open jobs whose params these are (jobs with equal params share one copy). */
  jobs: number
}

/**
 * The big params of a client's open jobs, by hash: kept here, not sent in job
 * frames, until each job's result comes; nodes fetch them from the client
 * (see serveBlobs) or through the head (the relay).
 */
export class ClientParams {
  readonly #held = new Map<string, Held>()

  /** Holds a job's encoded params; the reference the job carries instead. */
  hold(data: Uint8Array, what: string): BlobRef {
    if (data.byteLength > MAX_BLOB_VALUE_BYTES) {
      throw new UnsendableValueError(
        `${what} encode to ${data.byteLength} bytes, over the ${MAX_BLOB_VALUE_BYTES} a job may have: split the job, or pool.share() the big part`,
      )
    }
    const hash = codeHash(data)
    const held = this.#held.get(hash)
    if (held === undefined) this.#held.set(hash, { data, jobs: 1 })
    else held.jobs++
    return { hash, bytes: data.byteLength }
  }

  /** A job that held these params is settled. */
  release(hash: string): void {
    const held = this.#held.get(hash)
    if (held === undefined) return
    if (--held.jobs === 0) this.#held.delete(hash)
  }

  clear(): void {
    this.#held.clear()
  }

  get(hash: string): Uint8Array | undefined {
    return this.#held.get(hash)?.data
  }
}

import { decodeValue, isSharedHash, SharedValueError } from '@meshpool/core'
import { bulkSocket } from './bulk-pipe.js'
import { BulkReader } from './bulk-reader.js'
import type { SlotJob, ToSlot } from './protocol.js'

interface Coming {
  promise: Promise<void>
  resolve: () => void
  reject: (err: Error) => void
}

/**
 * A slot's side of a job's params: big ones read raw off the bulk pipe (see
 * BULK_FD), and shared values (pool.share) asked of the node and decoded once,
 * by hash, so every job that refers to one gets the same object.
 */
export class JobParams {
  readonly #values = new Map<string, unknown>()
  readonly #coming = new Map<string, Coming>()
  /** The params of jobs that came on the bulk pipe, claimed as their message came. */
  readonly #bulkParams = new WeakMap<SlotJob, Promise<Uint8Array>>()
  #bulk: BulkReader | undefined
  /** Asks the node for a shared value. */
  readonly #ask: (hash: string) => void

  constructor(ask: (hash: string) => void) {
    this.#ask = ask
  }

  /**
   * Sees every message as it comes, before it waits its turn: bytes on the bulk
   * pipe are claimed now, in the order their messages came. True when the message
   * was one of this class's own (a shared value, or values to forget).
   */
  received(message: ToSlot): boolean {
    if (message.type === 'run') {
      for (const job of message.jobs) {
        if (job.bulk !== undefined) this.#bulkParams.set(job, this.#reader().claim(job.bulk))
      }
      return false
    }
    if (message.type === 'shared') {
      const { hash, bulk } = message
      if (bulk === undefined) this.#got(message)
      else
        void this.#reader()
          .claim(bulk)
          .then((value) => this.#got({ type: 'shared', hash, value }))
      return true
    }
    if (message.type === 'forget') {
      for (const hash of message.hashes) this.#values.delete(hash)
      return true
    }
    return false
  }

  /** The worker is gone: its pool's shared values go with it. */
  clear(): void {
    this.#values.clear()
  }

  /**
   * A job's params, with the value itself where they refer to a shared value:
   * those not decoded yet are asked of the node first (before the job counts
   * as started, so a slot that dies fetching costs the job no attempt).
   */
  async of(job: SlotJob): Promise<unknown> {
    const bytes = job.bulk === undefined ? job.params : await this.#bulkParams.get(job)
    if (bytes === undefined) throw new Error(`job ${job.jobId}'s params never came on the bulk pipe`)
    const missing = new Set<string>()
    const resolve = (hash: unknown): unknown => {
      if (!isSharedHash(hash)) throw new SharedValueError('the params hold a malformed shared reference')
      if (!this.#values.has(hash)) missing.add(hash)
      return this.#values.get(hash)
    }
    const params = decodeValue(bytes, resolve)
    if (missing.size === 0) return params
    await Promise.all([...missing].map((hash) => this.#fetch(hash)))
    return decodeValue(bytes, resolve)
  }

  #reader(): BulkReader {
    this.#bulk ??= new BulkReader(bulkSocket())
    return this.#bulk
  }

  #fetch(hash: string): Promise<void> {
    let coming = this.#coming.get(hash)
    if (coming === undefined) {
      let resolve = (): void => {}
      let reject = (_err: Error): void => {}
      const promise = new Promise<void>((res, rej) => {
        resolve = res
        reject = rej
      })
      coming = { promise, resolve, reject }
      this.#coming.set(hash, coming)
      this.#ask(hash)
    }
    return coming.promise
  }

  #got(message: Extract<ToSlot, { type: 'shared' }>): void {
    const coming = this.#coming.get(message.hash)
    if (coming === undefined) return
    this.#coming.delete(message.hash)
    if (message.value === undefined) {
      coming.reject(new SharedValueError(message.error ?? `the node has no shared value ${message.hash.slice(0, 12)}…`))
      return
    }
    try {
      this.#values.set(message.hash, decodeValue(message.value))
      coming.resolve()
    } catch (err) {
      coming.reject(new SharedValueError(`the shared value could not be decoded: ${(err as Error).message}`))
    }
  }
}

import {
  AbortError,
  decodeValue,
  encodeValue,
  GROWN_WINDOW_BYTES,
  GROWN_WINDOW_JOBS,
  PoolClosedError,
  WorkerLoadError,
} from '@meshpool/core'
import type { Settled } from './call-options.js'
import type { PoolClient } from './pool-client.js'
import type { ProgressTracker, ProgressWatch } from './progress.js'

/** Read through a function so TypeScript doesn't keep an earlier narrowing of `aborted`. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

/**
 * Errors that are not one job's failure but the whole call's: a settled call
 * rejects with them too (the pool closed, no node can load the worker).
 */
function endsTheCall(error: Error): boolean {
  return error instanceof PoolClosedError || error instanceof WorkerLoadError || error instanceof AbortError
}

/** The AbortError a call rejects with when its signal aborts. */
export function abortError(signal: AbortSignal): AbortError {
  const reason = signal.reason as unknown
  if (reason instanceof AbortError) return reason
  const detail = reason instanceof Error && reason.name !== 'AbortError' ? `: ${reason.message}` : ''
  return new AbortError(`the call was aborted by its signal${detail}`)
}

export interface InputRunInit<P> {
  client: PoolClient
  /** The inputs, read one at a time (a sync iterator is awaited alike). */
  inputs: AsyncIterator<P> | Iterator<P>
  /** Most jobs out at once, results not yet taken counted. */
  window: number
  /** The window is the default, not the caller's: it grows while the head has room for more (see GROWN_WINDOW_JOBS). */
  grows: boolean
  timeoutMs: number
  /** A failed job is yielded, not thrown. */
  settle: boolean
  signal: AbortSignal | undefined
  progress: ProgressWatch
  tracker: ProgressTracker | undefined
}

type Ready = { index: number; value?: Uint8Array; error?: Error }

/**
 * One map or imapUnordered call: it yields each job's outcome with its input
 * index as results arrive; a failed job ends the call unless `settle` is set.
 * A feeder reads the inputs (lazily, at most `window` jobs out) while results
 * are yielded, so a slow input never holds results back.
 */
export class InputRun<P, R> {
  readonly #init: InputRunInit<P>
  readonly #ready: Ready[] = []
  readonly #inFlight = new Map<number, number>() // job id → input index
  /** The window now: the init's, or more once the head said it had room (a call's window never shrinks). */
  #window: number
  /** Bytes of the params of the jobs out. */
  #bytesOut = 0
  #wake: (() => void) | undefined
  #roomFor: (() => void) | undefined
  #stopped = false
  #exhausted = false
  #feedError: Error | undefined

  constructor(init: InputRunInit<P>) {
    this.#init = init
    this.#window = init.window
  }

  async *outcomes(): AsyncGenerator<Settled<R>> {
    const { signal, settle } = this.#init
    const nudge = (): void => this.#nudge()
    const feeding = this.#feed().then(nudge, (err: unknown) => {
      this.#feedError = err as Error
      nudge()
    })
    signal?.addEventListener('abort', nudge, { once: true })
    try {
      while (true) {
        if (signal !== undefined && isAborted(signal)) throw abortError(signal)
        if (this.#feedError !== undefined) throw this.#feedError
        const item = this.#ready.shift()
        if (item !== undefined) {
          const { index, error } = item
          if (error !== undefined && (!settle || endsTheCall(error))) throw error
          yield error === undefined
            ? { ok: true, value: decodeValue<R>(item.value as Uint8Array), index }
            : { ok: false, error, index }
          this.#roomFor?.()
          continue
        }
        if (this.#exhausted && this.#inFlight.size === 0) return
        await new Promise<void>((resolve) => {
          this.#wake = resolve
        })
        this.#roomFor?.()
      }
    } finally {
      signal?.removeEventListener('abort', nudge)
      this.#stop()
      void feeding
    }
  }

  #nudge(): void {
    this.#wake?.()
    this.#wake = undefined
  }

  async #feed(): Promise<void> {
    let read = 0
    for (let index = 0; !this.#stopped; index++) {
      // Results not yet taken by the caller count against the window too: memory stays bounded.
      while (this.#inFlight.size + this.#ready.length >= this.#windowNow() && !this.#stopped) {
        await new Promise<void>((resolve) => {
          this.#roomFor = resolve
        })
      }
      if (this.#stopped) return
      const next = await this.#init.inputs.next()
      if (next.done === true || this.#stopped) break
      this.#submit(next.value, index)
      read = index + 1
    }
    this.#exhausted = true
    this.#init.tracker?.exhausted(read)
  }

  /**
   * The window, grown by what the head last said its nodes had room for, when
   * the call has the default one, is held back by it, and its params out are
   * not big: more jobs out then only fill nodes that asked for them.
   */
  #windowNow(): number {
    const { grows, client } = this.#init
    const out = this.#inFlight.size + this.#ready.length
    // Only a call held back by its window grows it: one that can't feed its inputs faster would only hold more.
    if (!grows || out < this.#window || this.#bytesOut >= GROWN_WINDOW_BYTES) return this.#window
    const room = client.takeRoom()
    // A room of a few jobs is the slack of results on their way back, not nodes short of work.
    if (room >= this.#window / 4) this.#window = Math.min(GROWN_WINDOW_JOBS, Math.max(this.#window, out + room))
    return this.#window
  }

  #submit(params: P, index: number): void {
    const { client, timeoutMs, tracker, progress } = this.#init
    const encoded = encodeValue(params, `params (input ${index})`)
    const { id, result } = client.submit(encoded, timeoutMs)
    this.#bytesOut += encoded.byteLength
    this.#inFlight.set(id, index)
    if (tracker !== undefined) progress.submitted(tracker, id, index)
    result
      .then(
        (value) => {
          tracker?.finished(id, true)
          this.#ready.push({ index, value })
        },
        (error: Error) => {
          tracker?.finished(id, false)
          this.#ready.push({ index, error })
        },
      )
      .finally(() => {
        progress.forget(id)
        this.#bytesOut -= encoded.byteLength
        this.#inFlight.delete(id)
        this.#nudge()
      })
  }

  /** The call ended: an error, an abort, the last result, or a consumer that stopped early. */
  #stop(): void {
    const { client, tracker, progress, inputs } = this.#init
    this.#stopped = true
    this.#roomFor?.()
    // The jobs still out are not wanted.
    if (this.#inFlight.size > 0) client.cancel([...this.#inFlight.keys()])
    if (tracker !== undefined) progress.end(tracker, this.#inFlight.keys())
    // Not awaited: the input may be stuck in a next() that never resolves, and an abort rejects at once.
    if (!this.#exhausted) void Promise.resolve(inputs.return?.()).catch(() => {})
  }
}

// The slot of a simulated node (sim-nodes.js): the worker runs in the node's own
// process, not in a slot process of its own, so one bench process can host hundreds
// of nodes and what the bench measures is the head and the mesh, not 1,000 slot
// processes on 2 cores. It speaks the agent's side of a slot process (the
// messages of packages/node/src/slot/protocol.ts) and runs the worker as
// slot/main.ts does, without its output capture and progress reports (the bench
// worker uses neither).
import { isAbsolute } from 'node:path'
import { pathToFileURL } from 'node:url'
import { AbortError, decodeValue, encodeValue, errorShape, TimeoutError } from '@meshpool/core'

/** A job's results wait at most this long for others to share their message (as in a slot process). */
const RESULT_DELAY_MS = 2

/**
 * A slot process in this process, for joinHead's (internal) `slotProcess`: `(index, events) => slot`.
 * `onUpdate(value)` is told of each update once the worker has applied it.
 */
export function inProcessSlot(onUpdate = () => {}) {
  return (_index, events) => new InProcessSlot(events, onUpdate)
}

class InProcessSlot {
  lastStarted = undefined
  #events
  #worker = undefined
  #chain = Promise.resolve()
  /** Bumped by each start and stop: messages of an older run of the "process" are dropped. */
  #run = 0
  #alive = false
  #running = undefined
  #results = []
  #flushTimer = undefined
  #pending = 0
  #onUpdate

  constructor(events, onUpdate) {
    this.#events = events
    this.#onUpdate = onUpdate
  }

  start() {
    this.#run++
    this.#alive = true
    this.#worker = undefined
    this.lastStarted = undefined
    this.#chain = Promise.resolve()
  }

  send(message) {
    if (!this.#alive) return
    if (message.type === 'abort') {
      if (this.#running?.jobId === message.jobId) {
        this.#running.controller.abort(
          message.reason === 'timeout'
            ? new TimeoutError('the job ran past its timeoutMs')
            : new AbortError('cancelled'),
        )
      }
      return
    }
    if (message.type === 'run') this.#pending += message.jobs.length
    const run = this.#run
    // One message at a time, after the caller's turn, as a child's IPC would deliver it.
    this.#chain = this.#chain.then(() => (run === this.#run ? this.#handle(message) : undefined))
  }

  kill() {
    if (!this.#alive) return
    this.#alive = false
    this.#run++
    setImmediate(() => this.#events.exit('slot was killed'))
  }

  async stop() {
    this.#alive = false
    this.#run++
  }

  async #handle(message) {
    switch (message.type) {
      case 'load':
        return this.#load(message)
      case 'run':
        for (const job of message.jobs) {
          this.#pending--
          await this.#job(job)
        }
        return
      case 'update': {
        const value = decodeValue(message.value)
        await this.#worker?.handleUpdate?.(value)
        this.#onUpdate(value)
        return
      }
      case 'dispose':
        await this.#worker?.dispose?.()
        this.#worker = undefined
        this.#reply({ type: 'disposed' })
    }
  }

  async #load(message) {
    try {
      const url = isAbsolute(message.url) ? pathToFileURL(message.url).href : message.url
      const { default: Worker } = await import(url)
      const worker = new Worker(decodeValue(message.init), {
        nodeId: message.nodeId,
        slot: message.slot,
        gpu: message.gpu,
      })
      await worker.setup?.()
      this.#worker = worker
      this.#reply({ type: 'loaded' })
    } catch (err) {
      this.#reply({ type: 'loadFailed', error: errorShape(err) })
    }
  }

  async #job(job) {
    const started = performance.now()
    const controller = new AbortController()
    this.#running = { jobId: job.jobId, controller }
    this.lastStarted = job.jobId
    const ctx = { jobId: job.jobId, attempt: job.attempt, signal: controller.signal, missedUpdates: 0, progress() {} }
    try {
      const value = await this.#worker.run(decodeValue(job.params), ctx)
      this.#report({ jobId: job.jobId, ms: performance.now() - started, ok: true, value: encodeValue(value) })
    } catch (err) {
      this.#report({ jobId: job.jobId, ms: performance.now() - started, ok: false, error: errorShape(err) })
    } finally {
      this.#running = undefined
    }
  }

  #report(result) {
    this.#results.push(result)
    if (this.#pending === 0) this.#flush()
    else this.#flushTimer ??= setTimeout(() => this.#flush(), RESULT_DELAY_MS)
  }

  #flush() {
    clearTimeout(this.#flushTimer)
    this.#flushTimer = undefined
    if (this.#results.length === 0) return
    const results = this.#results
    this.#results = []
    this.#reply({ type: 'results', results })
  }

  #reply(message) {
    if (this.#alive) this.#events.message(message)
  }
}

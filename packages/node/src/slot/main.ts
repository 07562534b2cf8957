/**
 * The entry of a slot process: it holds one instance of the user's worker
 * class and handles its agent's messages strictly one at a time, so cache
 * updates are only ever applied between jobs.
 */
import { writeSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import { pathToFileURL } from 'node:url'
import {
  AbortError,
  decodeValue,
  encodeValue,
  errorShape,
  TimeoutError,
  UnsendableValueError,
  WorkerLoadError,
} from '@meshpool/core'
import type { JobContext, WorkerContext, WorkerInstance } from '../worker-types.js'
import { withBulkValues } from './bulk-pipe.js'
import { JobParams } from './job-params.js'
import { captureOutput } from './output.js'
import { type FromSlot, type SlotJob, type SlotResult, STARTED_FD, type ToSlot } from './protocol.js'
import { resolvePackagesFromNode } from './resolve.js'

let worker: WorkerInstance | undefined
let context: WorkerContext | undefined
let chain: Promise<void> = Promise.resolve()
let running: { jobId: number; controller: AbortController } | undefined
/** Updates of the loaded pool this slot never got (past the update log's budget). */
let missedUpdates = 0
/** Jobs aborted before they started. */
const skipped = new Set<number>()
/** Jobs handed over and not yet run. */
let pending = 0
let results: SlotResult[] = []
let flushTimer: NodeJS.Timeout | undefined
/** A result waits at most this long for others to share its message. */
const RESULT_DELAY_MS = 2
const MAX_RESULTS_PER_MESSAGE = 256
const startedBytes = new Float64Array(1)

const reply = (message: FromSlot): void => {
  process.send?.(message)
}
const output = process.send === undefined ? undefined : captureOutput((lines) => reply({ type: 'output', lines }))

/** Big params off the bulk pipe, and shared values (see JobParams). */
const params = new JobParams((hash) => reply({ type: 'needShared', hash }))

process.on('message', (message: ToSlot) => {
  if (params.received(message)) return
  if (message.type === 'abort') {
    if (running?.jobId === message.jobId) running.controller.abort(abortReason(message.reason))
    else skipped.add(message.jobId)
    return
  }
  if (message.type === 'run') pending += message.jobs.length
  chain = chain.then(() => handle(message))
})

function abortReason(reason: 'timeout' | 'cancel'): Error {
  return reason === 'timeout'
    ? new TimeoutError('the job ran past its timeoutMs')
    : new AbortError('the job was cancelled')
}
process.on('disconnect', () => process.exit(0))

async function handle(message: ToSlot): Promise<void> {
  switch (message.type) {
    case 'load':
      return load(message)
    case 'run':
      for (const job of message.jobs) {
        pending--
        await run(job)
      }
      return
    case 'update':
      try {
        await worker?.handleUpdate?.(decodeValue(message.value))
      } catch (err) {
        process.stderr.write(`meshpool: handleUpdate threw on update ${message.seq}: ${(err as Error)?.stack ?? err}\n`)
      }
      return
    case 'missed':
      missedUpdates += message.count
      return
    case 'dispose':
      try {
        await worker?.dispose?.()
      } catch (err) {
        process.stderr.write(`meshpool: dispose() threw: ${(err as Error)?.stack ?? err}\n`)
      } finally {
        worker = undefined
        missedUpdates = 0
        params.clear()
        output?.flush() // what dispose() printed belongs to the pool that owned the worker, not the next one
        reply({ type: 'disposed' })
      }
  }
}

async function load(message: Extract<ToSlot, { type: 'load' }>): Promise<void> {
  try {
    const url = isAbsolute(message.url) ? pathToFileURL(message.url).href : message.url
    if (message.shipped) {
      resolvePackagesFromNode(url)
      process.setSourceMapsEnabled(true) // stacks name the client's files, not the bundle
    }
    let mod: { default?: unknown }
    try {
      mod = await import(url)
    } catch (err) {
      throw new WorkerLoadError(`can't load the worker module ${message.worker}: ${importFailure(err)}`)
    }
    const WorkerClass = mod.default
    if (typeof WorkerClass !== 'function') {
      throw new WorkerLoadError(
        `the worker module ${message.worker} has no default export class; write \`export default class MyWorker { run(params) { … } }\``,
      )
    }
    context = { nodeId: message.nodeId, slot: message.slot, gpu: message.gpu }
    const init = decodeValue(message.init)
    let instance: WorkerInstance
    try {
      instance = new (WorkerClass as new (init: unknown, ctx: WorkerContext) => WorkerInstance)(init, context)
    } catch (err) {
      throw new WorkerLoadError(`the constructor of ${message.worker} threw: ${thrown(err, init)}`)
    }
    if (typeof instance.run !== 'function') {
      throw new WorkerLoadError(`the worker class in ${message.worker} has no run(params, ctx) method`)
    }
    try {
      await instance.setup?.()
    } catch (err) {
      throw new WorkerLoadError(`setup() of ${message.worker} threw: ${thrown(err, init)}`)
    }
    worker = instance
    output?.flush() // what the constructor printed goes to this pool before it runs jobs
    reply({ type: 'loaded' })
  } catch (err) {
    output?.flush()
    reply({ type: 'loadFailed', error: errorShape(err) })
  }
}

/**
 * What a constructor or setup() threw, with where (the first frame of its stack),
 * and a hint when the pool was given no init: its fields are then undefined.
 */
function thrown(err: unknown, init: unknown): string {
  const what = err instanceof Error ? `${err.name}: ${err.message}` : `a non-Error value: ${String(err)}`
  const frame = err instanceof Error ? err.stack?.split('\n').find((line) => /^\s+at /.test(line)) : undefined
  const where = frame === undefined ? '' : ` (${frame.trim()})`
  const hint =
    init === undefined ? '; the pool has no init: pass the one the constructor needs, createPool({ worker, init })' : ''
  return `${what}${where}${hint}`
}

/** Progress reports of one job reach the caller at most this often (and the last one always). */
const PROGRESS_EVERY_MS = 100

/** A job's ctx.progress: checks the fraction, and sends at most one report per PROGRESS_EVERY_MS. */
function progressOf(jobId: number): (fraction: number) => void {
  let sentAt = Number.NEGATIVE_INFINITY
  let timer: NodeJS.Timeout | undefined
  let latest = 0
  const send = (): void => {
    timer = undefined
    sentAt = performance.now()
    if (running?.jobId === jobId) reply({ type: 'progress', jobId, fraction: latest })
  }
  return (fraction) => {
    if (typeof fraction !== 'number' || !(fraction >= 0 && fraction <= 1)) {
      throw new RangeError(`ctx.progress takes a fraction from 0 to 1, got ${String(fraction)}`)
    }
    latest = fraction
    if (timer !== undefined) return
    const wait = sentAt + PROGRESS_EVERY_MS - performance.now()
    if (wait <= 0) send()
    else timer = setTimeout(send, wait)
  }
}

/** Why an import failed; a missing package is named, with where to install it. */
function importFailure(err: unknown): string {
  const message = (err as Error)?.message ?? String(err)
  const missing = /Cannot find (?:package|module) '([^']+)'/.exec(message)?.[1]
  if (missing === undefined || (err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') return message
  if (missing.startsWith('/') || missing.startsWith('file:')) return message
  return `it imports the package "${missing}", which this node can't find: install it where the node runs (${process.cwd()}), or ship: false with the code on every node`
}

async function run(job: SlotJob): Promise<void> {
  const started = performance.now()
  if (skipped.delete(job.jobId)) {
    return report({ jobId: job.jobId, ms: 0, ok: false, error: errorShape(new AbortError('the job was cancelled')) })
  }
  let jobParams: unknown
  try {
    jobParams = await params.of(job)
  } catch (err) {
    return report({ jobId: job.jobId, ms: performance.now() - started, ok: false, error: errorShape(err) })
  }
  const controller = new AbortController()
  running = { jobId: job.jobId, controller }
  announceStart(job.jobId)
  const ctx: JobContext = {
    jobId: job.jobId,
    attempt: job.attempt,
    signal: controller.signal,
    missedUpdates,
    progress: progressOf(job.jobId),
  }
  try {
    if (worker === undefined) throw new WorkerLoadError('no worker is loaded in this slot')
    const result = await worker.run(jobParams, ctx)
    let value: Uint8Array
    try {
      value = encodeValue(result, 'the result of run()')
    } catch (err) {
      throw new UnsendableValueError((err as Error).message)
    }
    report({ jobId: job.jobId, ms: performance.now() - started, ok: true, value })
  } catch (err) {
    report({ jobId: job.jobId, ms: performance.now() - started, ok: false, error: errorShape(err) })
  } finally {
    running = undefined
  }
}

/**
 * Results go out together once the slot has no job left to run, or once the
 * oldest has waited {@link RESULT_DELAY_MS}: a long job after short ones must
 * not hold their results back.
 */
function report(result: SlotResult): void {
  results.push(result)
  if (pending === 0 || results.length >= MAX_RESULTS_PER_MESSAGE) flushResults()
  else flushTimer ??= setTimeout(flushResults, RESULT_DELAY_MS)
}

function flushResults(): void {
  clearTimeout(flushTimer)
  flushTimer = undefined
  if (results.length === 0) return
  output?.flush() // a job's output goes before its result
  reply({ type: 'results', results: withBulkValues(results) })
  results = []
}

/**
 * Tells the agent, synchronously, which job starts now: if the slot dies, that
 * one counts an attempt, and the others it held are given back unharmed.
 */
function announceStart(jobId: number): void {
  startedBytes[0] = jobId
  try {
    writeSync(STARTED_FD, new Uint8Array(startedBytes.buffer))
  } catch {
    // Run by hand, without the agent's pipe: nothing to tell.
  }
}

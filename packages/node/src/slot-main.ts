/**
 * The entry of a slot process: it holds one instance of the user's worker
 * class and handles its agent's messages strictly one at a time, so cache
 * updates are only ever applied between jobs.
 */
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
import type { FromSlot, ToSlot } from './slot-protocol.js'
import type { JobContext, WorkerContext, WorkerInstance } from './worker-types.js'

let worker: WorkerInstance | undefined
let context: WorkerContext | undefined
let chain: Promise<void> = Promise.resolve()
let running: { jobId: number; controller: AbortController } | undefined

const reply = (message: FromSlot): void => {
  process.send?.(message)
}

process.on('message', (message: ToSlot) => {
  if (message.type === 'abort') {
    if (running?.jobId === message.jobId) running.controller.abort(abortReason(message.reason))
    return
  }
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
      return run(message)
    case 'update':
      try {
        await worker?.handleUpdate?.(decodeValue(message.value))
      } catch (err) {
        process.stderr.write(`meshpool: handleUpdate threw on update ${message.seq}: ${(err as Error)?.stack ?? err}\n`)
      }
      return
    case 'dispose':
      try {
        await worker?.dispose?.()
      } finally {
        worker = undefined
        reply({ type: 'disposed' })
      }
  }
}

async function load(message: Extract<ToSlot, { type: 'load' }>): Promise<void> {
  try {
    const url = isAbsolute(message.worker) ? pathToFileURL(message.worker).href : message.worker
    let mod: { default?: unknown }
    try {
      mod = await import(url)
    } catch (err) {
      throw new WorkerLoadError(`can't load the worker module ${message.worker}: ${(err as Error)?.message ?? err}`)
    }
    const WorkerClass = mod.default
    if (typeof WorkerClass !== 'function') {
      throw new WorkerLoadError(
        `the worker module ${message.worker} has no default export class; write \`export default class MyWorker { run(params) { … } }\``,
      )
    }
    context = { nodeId: message.nodeId, slot: message.slot, gpu: null }
    const instance = new (WorkerClass as new (init: unknown, ctx: WorkerContext) => WorkerInstance)(
      decodeValue(message.init),
      context,
    )
    if (typeof instance.run !== 'function') {
      throw new WorkerLoadError(`the worker class in ${message.worker} has no run(params, ctx) method`)
    }
    await instance.setup?.()
    worker = instance
    reply({ type: 'loaded' })
  } catch (err) {
    reply({ type: 'loadFailed', error: errorShape(err) })
  }
}

async function run(message: Extract<ToSlot, { type: 'run' }>): Promise<void> {
  const controller = new AbortController()
  running = { jobId: message.jobId, controller }
  const ctx: JobContext = {
    jobId: message.jobId,
    attempt: message.attempt,
    signal: controller.signal,
    progress: () => {},
  }
  try {
    if (worker === undefined) throw new WorkerLoadError('no worker is loaded in this slot')
    const result = await worker.run(decodeValue(message.params), ctx)
    let value: Uint8Array
    try {
      value = encodeValue(result, 'the result of run()')
    } catch (err) {
      throw new UnsendableValueError((err as Error).message)
    }
    reply({ type: 'result', jobId: message.jobId, ok: true, value })
  } catch (err) {
    reply({ type: 'result', jobId: message.jobId, ok: false, error: errorShape(err) })
  } finally {
    running = undefined
  }
}

import { appendFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

/** Wall-clock ms with sub-ms resolution, consistent across processes on one machine (to ~0.1 ms). */
const now = () => performance.timeOrigin + performance.now()

/**
 * The benchmark's worker. A job is either a number (the trivial job: returns it)
 * or an object:
 * - { sleepMs }: sleeps that long, returns the node's id;
 * - { bytes }: returns the byte length of `bytes` (a Uint8Array);
 * - { sleepFirstMs, x }: on attempt 1 only, appends where and when it started to
 *   init.startLog and sleeps (a job that is then killed or frozen); every attempt
 *   returns { x, node, attempt, startedAt }, so the bench can read when the job
 *   started again elsewhere;
 * - { whoami: true, sleepMs }: returns { node, slot, updates }, the time at
 *   which this slot applied each update (by its index `i`), then forgets them.
 */
export default class BenchWorker {
  constructor(init, ctx) {
    this.init = init ?? {}
    this.node = ctx.nodeId
    this.slot = ctx.slot
    this.applied = []
  }

  async run(params, ctx) {
    if (typeof params === 'number') return params
    const startedAt = now()
    if (params.bytes !== undefined) return params.bytes.byteLength
    if (params.sleepFirstMs !== undefined) {
      if (ctx.attempt === 1) {
        if (this.init.startLog !== undefined) {
          appendFileSync(
            this.init.startLog,
            `${JSON.stringify({ x: params.x, node: this.node, pid: process.pid, startedAt })}\n`,
          )
        }
        await sleep(params.sleepFirstMs, undefined, { signal: ctx.signal })
      }
      return { x: params.x, node: this.node, attempt: ctx.attempt, startedAt }
    }
    if (params.sleepMs > 0) await sleep(params.sleepMs, undefined, { signal: ctx.signal })
    if (params.whoami === true) {
      const updates = this.applied
      this.applied = []
      return { node: this.node, slot: this.slot, pid: process.pid, updates }
    }
    return this.node
  }

  handleUpdate(update) {
    this.applied.push([update.i, now()])
  }
}

import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { channelBytes } from '../net/channel.js'
import type { HeadSnapshot } from './head-types.js'
import type { WebGuard } from './web-guard.js'
import { answerText, type ListeningWeb, listenWeb } from './web-server.js'

/** A head's Prometheus metrics, read from its state when scraped. */
export class HeadMetrics {
  readonly registry = new Registry()
  readonly #latency: Histogram

  constructor(snapshot: () => HeadSnapshot) {
    registerJobMetrics(this.registry, snapshot)
    registerMeshMetrics(this.registry, snapshot)
    this.#latency = new Histogram({
      name: 'meshpool_job_seconds',
      help: 'Time from submit to outcome, by outcome',
      labelNames: ['outcome'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 3600],
      registers: [this.registry],
    })
  }

  /** Records a job's time from submit to outcome. */
  jobDone(ms: number, ok: boolean): void {
    this.#latency.observe({ outcome: ok ? 'done' : 'failed' }, ms / 1000)
  }

  /** Serves `/metrics` on host:port; resolves with the port (0 picks a free one). */
  serve(port: number, host: string, guard: WebGuard): Promise<ListeningWeb> {
    return listenWeb(port, host, guard, (_req, res, path) => {
      if (path !== '/metrics') return void answerText(res, 404, 'meshpool serves /metrics here\n')
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (err: Error) => answerText(res, 500, `${err.message}\n`),
      )
    })
  }
}

/** The jobs of every pool: by state now, and the head's totals of outcomes and leases. */
function registerJobMetrics(registry: Registry, snapshot: () => HeadSnapshot): void {
  // Totals kept by the head: each scrape moves the counter to the head's count.
  const total = (name: string, help: string, read: (s: HeadSnapshot) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset()
        this.inc(read(snapshot()))
      },
    })
  new Gauge({
    name: 'meshpool_jobs',
    help: 'Jobs of every pool by state: queued, running (leased to a node), waiting to retry',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const { counts } = snapshot()
      this.set({ state: 'queued' }, counts.queued)
      this.set({ state: 'running' }, counts.leased)
      this.set({ state: 'waiting' }, counts.waiting)
    },
  })
  total('meshpool_jobs_done_total', 'Jobs that ended with a result', (s) => s.counts.done)
  total('meshpool_jobs_failed_total', 'Jobs that ended with an error', (s) => s.counts.failed)
  total('meshpool_leases_expired_total', 'Leases that ran out (a frozen or cut-off node)', (s) => s.counts.expired)
  total('meshpool_job_attempts_total', 'Leases given: first attempts and retries', (s) => s.counts.leases)
}

/** The mesh: nodes and their slots, each pool's update log, and the bytes the head moved. */
function registerMeshMetrics(registry: Registry, snapshot: () => HeadSnapshot): void {
  new Gauge({
    name: 'meshpool_nodes',
    help: 'Nodes joined to the head',
    registers: [registry],
    collect() {
      this.set(snapshot().nodes)
    },
  })
  new Gauge({
    name: 'meshpool_slots',
    help: 'Slots by state, as of each node’s last heartbeat',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      for (const [state, n] of Object.entries(snapshot().slots)) this.set({ state }, n)
    },
  })
  new Gauge({
    name: 'meshpool_update_log_bytes',
    help: 'Bytes of cache updates each pool’s log holds',
    labelNames: ['pool'],
    registers: [registry],
    collect() {
      this.reset()
      for (const pool of snapshot().pools) this.set({ pool: String(pool.poolId) }, pool.updateLogBytes)
    },
  })
  new Gauge({
    name: 'meshpool_update_seq',
    help: 'The latest update number of each pool',
    labelNames: ['pool'],
    registers: [registry],
    collect() {
      this.reset()
      for (const pool of snapshot().pools) this.set({ pool: String(pool.poolId) }, pool.updateSeq)
    },
  })
  new Counter({
    name: 'meshpool_bytes_total',
    help: 'Bytes of meshpool frames the head received and sent',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      this.reset()
      this.inc({ direction: 'in' }, channelBytes.in)
      this.inc({ direction: 'out' }, channelBytes.out)
    },
  })
}

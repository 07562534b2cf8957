import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ClientOutcome, NodeInfo } from '@meshpool/core'
import type { HeadSnapshot } from '../head-types.js'
import type { WebGuard } from '../web-guard.js'
import { answerText, type ListeningWeb, listenWeb } from '../web-server.js'
import { dashboardPage } from './page.js'

/** Samples of the queue kept for the chart: one a second, ten minutes. */
const HISTORY = 600
const SAMPLE_MS = 1000
/** Recent failures shown. */
const FAILURES = 20
/** Pages open at once (each holds a connection and gets a state a second); more are refused. */
export const MAX_DASHBOARD_WATCHERS = 32

export interface DashboardState {
  at: number
  nodes: NodeInfo[]
  counts: HeadSnapshot['counts']
  slots: HeadSnapshot['slots']
  pools: HeadSnapshot['pools']
  /** Which head of the mesh is active, since when, and the takeovers so far (a head with a standby link). */
  heads?: HeadSnapshot['heads']
  /** One a second: queued and running jobs, and jobs finished in that second. */
  history: Array<{ t: number; queued: number; running: number; finished: number }>
  failures: Array<{ t: number; pool: number; id: number; error: string; where?: string }>
}

/**
 * The head's web page (`--dashboard-port`): nodes with their GPUs and slots, the
 * queue and throughput over time, recent failures and each pool's update number.
 * The page gets a fresh state every second over server-sent events.
 */
export class Dashboard {
  readonly #read: () => { snapshot: HeadSnapshot; nodes: NodeInfo[] }
  readonly #history: DashboardState['history'] = []
  readonly #failures: DashboardState['failures'] = []
  readonly #watchers = new Set<ServerResponse>()
  #lastFinished = 0
  #timer: NodeJS.Timeout | undefined

  constructor(read: () => { snapshot: HeadSnapshot; nodes: NodeInfo[] }) {
    this.#read = read
  }

  /** A job ended: failures are listed on the page. */
  jobDone(outcome: ClientOutcome, poolId: number, where?: string): void {
    if (outcome.ok) return
    this.#failures.unshift({
      t: Date.now(),
      pool: poolId,
      id: outcome.id,
      error: `${outcome.error.name}: ${outcome.error.message}`.slice(0, 300),
      ...(where === undefined ? {} : { where }),
    })
    this.#failures.length = Math.min(this.#failures.length, FAILURES)
  }

  state(): DashboardState {
    const { snapshot, nodes } = this.#read()
    const { counts, slots, pools, heads } = snapshot
    const base = { at: Date.now(), nodes, counts, slots, pools, history: this.#history, failures: this.#failures }
    return heads === undefined ? base : { ...base, heads }
  }

  /** Serves the page and its state on host:port, and samples the queue each second from then on. */
  async serve(port: number, host: string, guard: WebGuard): Promise<ListeningWeb> {
    const listening = await listenWeb(port, host, guard, (req, res, path) => this.#answer(req, res, path))
    this.#timer = setInterval(() => this.#tick(), SAMPLE_MS)
    this.#timer.unref()
    listening.server.on('close', () => clearInterval(this.#timer))
    return listening
  }

  close(): void {
    clearInterval(this.#timer)
    for (const res of this.#watchers) res.end()
    this.#watchers.clear()
  }

  #answer(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (path === '/') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(dashboardPage)
    if (path === '/api/state') {
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.state()))
    }
    if (path !== '/api/events') return void answerText(res, 404, 'not found\n')
    if (this.#watchers.size >= MAX_DASHBOARD_WATCHERS) {
      return void answerText(res, 503, `the dashboard has ${MAX_DASHBOARD_WATCHERS} pages open already; close one\n`, {
        'retry-after': '10',
      })
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
    res.write(`data: ${JSON.stringify(this.state())}\n\n`)
    this.#watchers.add(res)
    req.on('close', () => this.#watchers.delete(res))
  }

  #tick(): void {
    const { counts } = this.#read().snapshot
    const finishedNow = counts.done + counts.failed
    this.#history.push({
      t: Date.now(),
      queued: counts.queued,
      running: counts.leased,
      finished: this.#history.length === 0 ? 0 : finishedNow - this.#lastFinished,
    })
    this.#lastFinished = finishedNow
    if (this.#history.length > HISTORY) this.#history.shift()
    if (this.#watchers.size === 0) return
    const data = `data: ${JSON.stringify(this.state())}\n\n`
    for (const res of this.#watchers) res.write(data)
  }
}

import type { Server } from 'node:http'
import { type ClientOutcome, checkPositiveInteger, type NodeInfo } from '@meshpool/core'
import { Dashboard } from './dashboard/dashboard.js'
import { webUrl } from './head-addresses.js'
import type { HeadInit } from './head-options.js'
import type { HeadSnapshot } from './head-types.js'
import { HeadMetrics } from './metrics.js'
import { DEFAULT_WEB_HOST, WebGuard } from './web-guard.js'

type WebOptions = Pick<HeadInit, 'metricsPort' | 'metricsHost' | 'dashboardPort' | 'dashboardHost' | 'webToken'>

/** What the web pages read of the head. */
export interface HeadView {
  snapshot(): HeadSnapshot
  nodes(): NodeInfo[]
}

/** The head's web side, when asked for: Prometheus metrics and the dashboard, each on its own port. */
export class HeadWeb {
  readonly #options: WebOptions
  readonly #metrics: HeadMetrics | undefined
  readonly #dashboard: Dashboard | undefined
  #metricsServer: Server | undefined
  #dashboardServer: Server | undefined

  /** Throws InvalidOptionError for a port that is not one. */
  constructor(options: WebOptions, head: () => HeadView) {
    checkPositiveInteger(options.metricsPort, 'metricsPort', { allowZero: true })
    checkPositiveInteger(options.dashboardPort, 'dashboardPort', { allowZero: true })
    this.#options = options
    this.#metrics = options.metricsPort === undefined ? undefined : new HeadMetrics(() => head().snapshot())
    this.#dashboard =
      options.dashboardPort === undefined
        ? undefined
        : new Dashboard(() => ({ snapshot: head().snapshot(), nodes: head().nodes() }))
  }

  /** A job ended: the metrics time it, and the dashboard lists it if it failed. */
  jobDone(ms: number, outcome: ClientOutcome, poolId: number): void {
    this.#metrics?.jobDone(ms, outcome.ok)
    this.#dashboard?.jobDone(outcome, poolId, outcome.ok ? undefined : outcome.where)
  }

  /** Listens; returns where the metrics and the dashboard are served. */
  async start(): Promise<{ metricsUrl?: string; dashboardUrl?: string }> {
    const { metricsPort, dashboardPort, webToken } = this.#options
    const metricsHost = this.#options.metricsHost ?? DEFAULT_WEB_HOST
    const dashboardHost = this.#options.dashboardHost ?? DEFAULT_WEB_HOST
    const guard = (on: string) => new WebGuard({ host: on, token: webToken })
    const served = await this.#metrics?.serve(metricsPort ?? 0, metricsHost, guard(metricsHost))
    this.#metricsServer = served?.server
    const page = await this.#dashboard?.serve(dashboardPort ?? 0, dashboardHost, guard(dashboardHost))
    this.#dashboardServer = page?.server
    return {
      ...(served === undefined ? {} : { metricsUrl: webUrl(metricsHost, served.port, '/metrics') }),
      ...(page === undefined ? {} : { dashboardUrl: webUrl(dashboardHost, page.port, '/') }),
    }
  }

  stop(): void {
    this.#metricsServer?.close()
    this.#dashboard?.close()
    this.#dashboardServer?.close()
    this.#metricsServer = undefined
    this.#dashboardServer = undefined
  }
}

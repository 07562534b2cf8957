import type { ClientOutcome, JobLedger, JobOutcome, LeaseToCancel, RoutedOutcome } from '@meshpool/core'
import { groupBy, throttledNote } from './head-helpers.js'
import type { NodeSession } from './head-types.js'
import type { NodeRegistry } from './node-registry.js'
import type { PoolRegistry } from './pool-registry.js'

export interface ResultRouterInit {
  ledger: JobLedger
  nodes: NodeRegistry
  pools: PoolRegistry
  now: () => number
  /** Jobs the nodes could take beyond those queued, told to clients with their results (see Dispatcher.room). */
  room?: () => number
  /** Told of each job's outcome and its time from submit, in ms. */
  onJobDone: (ms: number, outcome: ClientOutcome, poolId: number) => void
  note: (line: string) => void
}

/**
 * The way back from nodes to clients: a node's reports go into the ledger,
 * and what they settle goes to the client that submitted the job (results,
 * progress), or to the node that must stop it (a late result won).
 */
export class ResultRouter {
  readonly #init: ResultRouterInit
  readonly #noteIgnored: (line: string) => void

  constructor(init: ResultRouterInit) {
    this.#init = init
    this.#noteIgnored = throttledNote(init.note, init.now)
  }

  /** A node's reports on its leases: each one the ledger takes is counted on the node and routed. */
  results(node: NodeSession, reports: readonly JobOutcome[]): void {
    const { ledger } = this.#init
    const routed: RoutedOutcome[] = []
    for (const report of reports) {
      const outcome = ledger.complete(node.id, report)
      if (outcome !== undefined) {
        routed.push(outcome)
        if (outcome.outcome.ok) node.done++
        else node.failed++
      } else if (ledger.holder(report.jobId)?.nodeId !== undefined) this.#notHolder(node, report.jobId)
    }
    this.route(routed)
  }

  /** Outcomes to their clients, and the cancels they call for. */
  route(routed: readonly RoutedOutcome[]): void {
    if (routed.length === 0) return
    for (const { ms, outcome, poolId } of routed) if (ms !== undefined) this.#init.onJobDone(ms, outcome, poolId)
    const room = this.#init.room?.() ?? 0
    for (const [poolId, results] of groupBy(
      routed,
      (r) => r.poolId,
      (r) => this.#named(r.outcome),
    )) {
      this.#init.pools.get(poolId)?.channel.send({ type: 'results', results, ...(room > 0 ? { room } : {}) })
    }
    this.cancelOnNodes(routed.flatMap((r) => (r.cancelOn === undefined ? [] : [r.cancelOn])))
  }

  /** Tells each node which of its jobs to stop. */
  cancelOnNodes(leases: readonly LeaseToCancel[]): void {
    for (const [nodeId, jobIds] of groupBy(
      leases,
      (l) => l.nodeId,
      (l) => l.jobId,
    )) {
      this.#init.nodes.get(nodeId)?.channel.send({ type: 'cancel', jobIds })
    }
  }

  /** What a pool's workers printed on a node: only a node that was given the pool speaks for its workers. */
  output(node: NodeSession, poolId: number, lines: string[]): void {
    if (node.poolsSent.has(poolId)) this.#init.pools.get(poolId)?.channel.send({ type: 'output', lines })
  }

  /** A node's progress reports, each passed on if the node holds that lease still. */
  progress(node: NodeSession, progress: ReadonlyArray<{ jobId: number; leaseId: number; fraction: number }>): void {
    const mine = progress.flatMap(({ jobId, leaseId, fraction }) => {
      const job = this.#init.ledger.holder(jobId)
      return job === undefined || job.nodeId !== node.id || job.leaseId !== leaseId ? [] : [{ job, fraction }]
    })
    for (const [poolId, list] of groupBy(
      mine,
      (m) => m.job.poolId,
      (m) => ({ id: m.job.clientJobId, fraction: m.fraction }),
    )) {
      this.#init.pools.get(poolId)?.channel.send({ type: 'progress', progress: list })
    }
  }

  /** A result for a job leased to another node: ignored, and said (once a second at most). */
  #notHolder(node: NodeSession, jobId: number): void {
    const holder = this.#init.ledger.holder(jobId)?.nodeId
    if (holder === node.id) return // a stale lease of its own (a slot that was replaced): nothing to say
    this.#noteIgnored(`ignored a result from node ${node.id} for job ${jobId}, which is leased to ${holder}`)
  }

  /** A failed job's `where` (a peer id) as its RemoteJobError shows it: the node's name, and its peer id. */
  #named(outcome: ClientOutcome): ClientOutcome {
    if (outcome.ok || outcome.where === undefined) return outcome
    const node = this.#init.nodes.get(outcome.where)
    if (node === undefined || node.name === node.id) return outcome
    return { ...outcome, where: node.local ? node.name : `${node.name}, peer ${node.id}` }
  }
}

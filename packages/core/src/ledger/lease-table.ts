import type { Job } from './job.js'

/** How long a lease lasts without renewal. @default 3000 */
export const DEFAULT_LEASE_MS = 3000

/**
 * Who holds which job: leases given to nodes, renewed by their heartbeats,
 * and ended by a result, a release, an expiry or the node leaving. A lease
 * that ended without a result is remembered on its job, so a late result
 * from its holder can still win. It counts the leases it gave and those that
 * expired, and is the one place that changes a job's attempt.
 */
export class LeaseTable {
  readonly #byNode = new Map<string, Set<Job>>()
  /**
   * Per node, no later than its first lease to run out: a tick looks inside
   * only the nodes whose deadline has come, so the leases of nodes that
   * heartbeat cost nothing between heartbeats. (A lease that ends leaves the
   * deadline early, never late: that node is looked at once more.)
   */
  readonly #deadline = new Map<string, number>()
  #nextLeaseId: number
  #granted = 0
  #expired = 0

  /** `random` picks where lease ids start. */
  constructor(random: () => number) {
    // Lease ids start at a random point so a restarted head never accepts a result for a lease of its past life.
    this.#nextLeaseId = 1 + Math.floor(random() * 2 ** 40)
  }

  /** Leases given since the start: first attempts and retries alike. */
  get granted(): number {
    return this.#granted
  }

  /** Leases that ran out because their node stopped renewing them. */
  get expired(): number {
    return this.#expired
  }

  /** Jobs leased right now, over all nodes. */
  get leased(): number {
    let leased = 0
    for (const held of this.#byNode.values()) leased += held.size
    return leased
  }

  /** Jobs leased to a node right now. */
  heldBy(nodeId: string): number {
    return this.#byNode.get(nodeId)?.size ?? 0
  }

  /** Leases a job to a node until `expiresAt`: a new lease id, and one more attempt. */
  grant(job: Job, nodeId: string, expiresAt: number): void {
    job.state = 'leased'
    job.attempt++
    job.leaseId = this.#nextLeaseId++
    this.#granted++
    job.nodeId = nodeId
    job.expiresAt = expiresAt
    this.#held(nodeId).add(job)
    if (!(expiresAt >= (this.#deadline.get(nodeId) ?? Number.POSITIVE_INFINITY))) this.#deadline.set(nodeId, expiresAt)
  }

  /** Whether a report names the job's lease of now. */
  isCurrent(job: Job, nodeId: string, leaseId: number): boolean {
    return job.state === 'leased' && job.nodeId === nodeId && job.leaseId === leaseId
  }

  /** Whether the node held this lease of the job before it expired or the node left. */
  wasHeld(job: Job, nodeId: string, leaseId: number): boolean {
    return job.pastLeases?.some((l) => l.nodeId === nodeId && l.leaseId === leaseId) === true
  }

  /** Ends the job's lease, if it has one. */
  end(job: Job): void {
    if (job.nodeId !== undefined) this.#byNode.get(job.nodeId)?.delete(job)
    job.nodeId = undefined
  }

  /** A node gives a job back unstarted: its lease ends, and the attempt does not count. */
  giveBack(job: Job): void {
    this.end(job)
    job.attempt--
  }

  /** A node's heartbeat: each lease it holds now runs until `expiresAt(job)`. Returns how many it holds. */
  renew(nodeId: string, expiresAt: (job: Job) => number): number {
    const held = this.#byNode.get(nodeId)
    if (held === undefined) return 0
    let first = Number.POSITIVE_INFINITY
    for (const job of held) {
      job.expiresAt = expiresAt(job)
      if (job.expiresAt < first) first = job.expiresAt
    }
    this.#setDeadline(nodeId, first)
    return held.size
  }

  /** A node left: every lease it held ends and is remembered. Returns the jobs, newest first. */
  takeNode(nodeId: string): Job[] {
    const held = this.#byNode.get(nodeId)
    this.#byNode.delete(nodeId)
    this.#deadline.delete(nodeId)
    if (held === undefined) return []
    const jobs = [...held].reverse()
    for (const job of jobs) {
      // If the node comes back on a new connection, what it finished meanwhile still counts.
      remember(job, nodeId)
      job.nodeId = undefined
    }
    return jobs
  }

  /** Ends, and remembers, every lease that ran out by `now`. Returns their jobs, node by node, newest first. */
  expire(now: number): Array<{ nodeId: string; job: Job }> {
    const ended: Array<{ nodeId: string; job: Job }> = []
    for (const nodeId of this.#due(now)) {
      const { out: expired, next } = this.#runOut(nodeId, now)
      this.#setDeadline(nodeId, next)
      for (const job of expired.reverse()) {
        this.#expired++
        remember(job, nodeId)
        this.end(job)
        ended.push({ nodeId, job })
      }
    }
    return ended
  }

  /** Nodes holding a lease that has run out by `now` (they stopped renewing). */
  overdueNodes(now: number): string[] {
    return this.#due(now).filter((nodeId) => {
      const { out, next } = this.#runOut(nodeId, now)
      // Its deadline came with no lease run out (the early one had ended): the next one is its deadline.
      if (out.length === 0) this.#setDeadline(nodeId, next)
      return out.length > 0
    })
  }

  /** The nodes whose deadline has come (by their deadline alone: O(nodes), no lease looked at). */
  #due(now: number): string[] {
    const due: string[] = []
    for (const [nodeId, deadline] of this.#deadline) if (deadline <= now) due.push(nodeId)
    return due
  }

  /** The node's leases that have run out by `now`, oldest first, and when the first of the others runs out. */
  #runOut(nodeId: string, now: number): { out: Job[]; next: number } {
    const out: Job[] = []
    let next = Number.POSITIVE_INFINITY
    for (const job of this.#byNode.get(nodeId) ?? []) {
      if (job.expiresAt <= now) out.push(job)
      else if (job.expiresAt < next) next = job.expiresAt
    }
    return { out, next }
  }

  #setDeadline(nodeId: string, deadline: number): void {
    if (deadline === Number.POSITIVE_INFINITY) this.#deadline.delete(nodeId)
    else this.#deadline.set(nodeId, deadline)
  }

  #held(nodeId: string): Set<Job> {
    let held = this.#byNode.get(nodeId)
    if (held === undefined) {
      held = new Set()
      this.#byNode.set(nodeId, held)
    }
    return held
  }
}

/** Remembers a lease that ended without a result: its holder may still deliver one. */
function remember(job: Job, nodeId: string): void {
  job.pastLeases ??= []
  job.pastLeases.push({ nodeId, leaseId: job.leaseId })
}

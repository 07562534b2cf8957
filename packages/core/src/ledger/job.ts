import type { LeasedJob } from '../wire/index.js'

/** Where a job is in its life. Done and failed jobs leave the ledger once routed. */
export type JobState = 'queued' | 'leased' | 'waiting' | 'done' | 'failed'

/** How a pool's jobs are leased and retried. */
export interface PoolSettings {
  maxAttempts: number
  retries: number
  leaseMs: number
}

/** A job with an object of its own: leased at least once, or submitted alone. */
export interface Job {
  jobId: number
  poolId: number
  /** The id the client gave the job; results are routed back with it. */
  clientJobId: number
  params: Uint8Array
  /** When the head took it (its clock), for the job latency metric. */
  submittedAt: number
  /** Run time limit in ms; 0 for none. */
  timeoutMs: number
  state: JobState
  /** Times leased (see LeaseTable). */
  attempt: number
  /** Times run() threw, for retries (see RetryPolicy). */
  failures: number
  leaseId: number
  nodeId: string | undefined
  expiresAt: number
  /** When a waiting retry may run again. */
  notBefore: number
  /** Leases that expired: their holders may still deliver (first result wins). Made when first needed. */
  pastLeases: Array<{ nodeId: string; leaseId: number }> | undefined
  /** Where the job's slot or node was lost, for the WorkerLostError message. Made when first needed. */
  lostOn: string[] | undefined
}

export function newJob(
  poolId: number,
  jobId: number,
  clientJobId: number,
  params: Uint8Array,
  timeoutMs: number,
  submittedAt: number,
): Job {
  return {
    jobId,
    poolId,
    clientJobId,
    params,
    submittedAt,
    timeoutMs,
    state: 'queued',
    attempt: 0,
    failures: 0,
    leaseId: 0,
    nodeId: undefined,
    expiresAt: 0,
    notBefore: 0,
    pastLeases: undefined,
    lostOn: undefined,
  }
}

/** The job as its lease sends it to the node. */
export function leasedJob(job: Job, updateSeq: number): LeasedJob {
  const { jobId, leaseId, poolId, attempt, timeoutMs, params } = job
  return { jobId, leaseId, poolId, attempt, updateSeq, timeoutMs, params }
}

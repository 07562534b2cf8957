import type { ClientOutcome } from '../wire/index.js'

export interface JobLedgerInit {
  /** The clock, injected so tests drive it without sleeping. */
  now: () => number
  /** Defaults for pools that don't say. */
  maxAttempts?: number
  /** Randomness for lease ids, injected for tests. @default Math.random */
  random?: () => number
}

/** A finished job, ready to route to its pool's client. */
export interface RoutedOutcome {
  poolId: number
  outcome: ClientOutcome
  /** A late result won: the node now running the job should stop it. */
  cancelOn?: { nodeId: string; jobId: number }
  /** From submit to this outcome, in ms (the head's clock). */
  ms?: number
}

/** A leased job that must be stopped on its node. */
export interface LeaseToCancel {
  nodeId: string
  jobId: number
}

export interface LedgerCounts {
  queued: number
  leased: number
  waiting: number
  done: number
  failed: number
  expired: number
  /** Leases given since the start: first attempts and retries alike. */
  leases: number
}

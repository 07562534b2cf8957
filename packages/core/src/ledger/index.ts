/** The ledger's public names: the head uses {@link JobLedger}; its parts stay inside. */
export type { JobState, PoolSettings } from './job.js'
export { DEFAULT_LEASE_MS } from './lease-table.js'
export { JobLedger } from './ledger.js'
export { QueuedRun } from './queued-run.js'
export { DEFAULT_MAX_ATTEMPTS, DEFAULT_RETRIES, MAX_RETRY_BACKOFF_MS, RETRY_BACKOFF_MS } from './retry-policy.js'
export type { JobLedgerInit, LeaseToCancel, LedgerCounts, RoutedOutcome } from './types.js'

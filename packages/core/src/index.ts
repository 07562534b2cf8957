/**
 * @packageDocumentation
 *
 * The pure logic of meshpool: the job ledger, the update log, the wire
 * messages and their codec, value serialization, errors and option checks.
 * No sockets, no processes, no timers: time is a parameter.
 *
 * @example
 * ```ts
 * import { JobLedger, encodeValue } from '@meshpool/core'
 *
 * const ledger = new JobLedger({ now: () => 0 })
 * ledger.addPool(1)
 * ledger.submit(1, 0, encodeValue({ n: 2 }))
 * const [job] = ledger.lease('node-a', 1)
 * ```
 */

export * from './blob-ref.js'
export * from './blob-sources.js'
export * from './byte-budget-log.js'
export * from './deque.js'
export * from './errors.js'
export * from './ledger/index.js'
export * from './options.js'
export * from './printable.js'
export * from './shared-ref.js'
export { TickFlush } from './tick-flush.js'
export * from './update-log.js'
export * from './value-parts.js'
export * from './values.js'
export * from './wire/index.js'

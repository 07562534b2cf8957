import { setFlagsFromString } from 'node:v8'

/** The commands that run for days as a head or a node. */
const DAEMON_COMMANDS = new Set(['head', 'join'])

/**
 * How far V8 lets the heap grow past what its last full collection kept, as
 * 1 + this/100. V8's own factor goes up to 4 when collections are cheap: a
 * head that holds 30 MB of live objects swelled to 120 MB of old space (RSS
 * 2× its idle size) under a busy mesh and a fuzzing member, and kept it.
 * 2 halves that growth; it costs a few more (concurrent) collections, up to
 * a tenth of the trivial-job rate (bench case a).
 */
const HEAP_GROWING_PERCENT = 100

/** Keeps a head's or node's heap near what it holds (see HEAP_GROWING_PERCENT). */
export function tuneDaemonHeap(argv: string[]): void {
  if (DAEMON_COMMANDS.has(argv[2] ?? '')) setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
}

#!/usr/bin/env node
// The secret leaves the environment before the CLI loads (see secret-shed.ts): a re-exec then costs one Node start-up.
import { keepCompiledCode } from './compile-cache.js'
import { tuneDaemonHeap } from './daemon-heap.js'
import { shedSecrets } from './secret-shed.js'

try {
  shedSecrets()
} catch (err) {
  process.stderr.write(`meshpool: ${(err as Error).message}\n`)
  process.exit(1)
}
tuneDaemonHeap(process.argv)
keepCompiledCode()
await import('./main.js')

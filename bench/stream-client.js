// Case g of `pnpm bench`, second half: a client that streams lazy inputs
// through imapUnordered for a bounded time while the bench samples its memory.
// Usage: node bench/stream-client.js <head> <seconds> <max inputs>
import { createPool } from 'meshpool'

const [head, seconds, max] = process.argv.slice(2)
const limit = Number(max)
const pool = await createPool({
  worker: new URL('./worker.js', import.meta.url),
  head,
  password: process.env.MESHPOOL_PASSWORD,
})
function* inputs() {
  for (let i = 0; i < limit; i++) yield i
}
process.stdout.write('pool ready\n')
const start = performance.now()
const until = start + Number(seconds) * 1000
let done = 0
let stoppedEarly = false
for await (const _ of pool.imapUnordered(inputs())) {
  done++
  if ((done & 1023) === 0 && performance.now() > until) {
    stoppedEarly = true
    break
  }
}
const elapsed = (performance.now() - start) / 1000
process.stdout.write(`streamed ${done} in ${elapsed.toFixed(3)} s${stoppedEarly ? ' (time limit)' : ''}\n`)
await pool.close()
process.exit(0)

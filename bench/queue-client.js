// Case g of `pnpm bench`, first half: a client that queues N jobs on a head
// with no nodes (imapUnordered with a window as large as its share), then tells
// the bench once the head has every one of them.
// Usage: node bench/queue-client.js <head> <n>
//
// The jobs are spread over pools of at most 250,000 each (several clients, as
// many users would); the client splits its submit frames at 65,536 jobs.
import { createPool } from 'meshpool'

const PER_POOL = 250_000
const [head, count] = process.argv.slice(2)
const n = Number(count)
const poolCount = Math.ceil(n / PER_POOL)
const start = performance.now()
let pulled = 0
const pools = []
for (let p = 0; p < poolCount; p++) {
  const share = Math.min(PER_POOL, n - p * PER_POOL)
  const pool = await createPool({
    worker: new URL('./worker.js', import.meta.url),
    head,
    password: process.env.MESHPOOL_PASSWORD,
    window: share,
  })
  pools.push(pool)
  function* inputs() {
    for (let i = 0; i < share; i++) {
      pulled++
      yield i
    }
  }
  // No node runs them: the generator waits for a result forever, holding its jobs.
  pool
    .imapUnordered(inputs())
    .next()
    .catch(() => {})
}
while (pulled < n) await new Promise((resolve) => setTimeout(resolve, 10))
// The client flushes submissions on the next turn; a stats request sent after them
// on the same stream is answered only once the head has taken every one.
await new Promise((resolve) => setImmediate(resolve))
await new Promise((resolve) => setImmediate(resolve))
await Promise.all(pools.map((pool) => pool.workersCount()))
process.stdout.write(`queued ${n} in ${Math.round(performance.now() - start)} ms over ${poolCount} pools\n`)
// Held until the bench stops this process.
setInterval(() => {}, 60_000)

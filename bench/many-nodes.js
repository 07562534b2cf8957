// Case h of `pnpm bench`: many light nodes in one process, each joined to the
// head with joinHead (1 slot each, so one slot process each), all at once.
// Usage: node bench/many-nodes.js <head> <n>
//
// On 2 busy cores, a handshake can pass libp2p's timeout while the slot processes
// boot; such a join is tried again (twice at most), and the retries are reported.
import { joinHead } from 'meshpool'
import { announceJoined } from './joined-nodes.js'

const [head, count] = process.argv.slice(2)
const n = Number(count)
const password = process.env.MESHPOOL_PASSWORD
let retries = 0
const failures = []
async function join(i) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await joinHead({ head, password, slots: 1, name: `bench-${i}` })
    } catch (err) {
      if (attempt >= 3) throw err
      retries++
      failures.push(`${err.name}: ${err.message.split('\n')[0]}`)
    }
  }
}
const start = performance.now()
const nodes = await Promise.all(Array.from({ length: n }, (_, i) => join(i)))
announceJoined({ nodes, ms: Math.round(performance.now() - start), retries, failures })

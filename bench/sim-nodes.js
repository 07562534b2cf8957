// Case i of `pnpm bench`: one process of simulated nodes. Each is a real node
// (joinHead: its own libp2p peer, head link, heartbeats, leases, gossip mesh) whose
// one slot runs the worker in this process (in-process-slot.js) instead of in a slot
// process, so that a few of these processes can stand for 1,000 machines.
// Usage: node bench/sim-nodes.js <head> <count> <first index> <source address> <joins at once>
//
// It prints `joined <n> in <ms> ms, <r> retries` (n: those that joined; `gave up on <name>: <why>`
// for each that could not), then `ready`, and `dropped <name>: <why>` whenever a node loses its
// head. On SIGUSR2 it prints `applied [[i, node, ms], …]`: the updates `{ i }` each node's slot
// applied since the last SIGUSR2, and when (wall-clock ms). SIGTERM stops every node.
import net from 'node:net'
import { joinHead } from 'meshpool'
import { inProcessSlot } from './in-process-slot.js'
import { announceJoined } from './joined-nodes.js'

const [head, count, first, source, atOnce] = process.argv.slice(2)
const n = Number(count)
const token = process.env.MESHPOOL_TOKEN

// The head takes at most 256 connections from one IP address (MAX_CONNECTIONS_PER_IP, for nodes
// behind one NAT). Each process of simulated nodes dials from a loopback address of its own
// (127.0.0.0/8 is all loopback on Linux), as that many machines would.
const connect = net.connect
net.connect = (options, ...rest) =>
  typeof options === 'object' && options !== null && options.path === undefined
    ? connect({ ...options, localAddress: source }, ...rest)
    : connect(options, ...rest)

/**
 * On 2 cores, the first few hundred nodes (and their own idle work) can hold this process's
 * event loop up past a join's timeouts: a join that fails is tried again, until this long after
 * the start; then that node is given up on. The retries, and why, are reported.
 */
const JOIN_DEADLINE_MS = 600_000
const start = performance.now()
/** Wall-clock ms, as the bench's (see bench/worker.js). */
const now = () => performance.timeOrigin + performance.now()
/** [update index, node, when applied] since the last report: what case i's update latency reads. */
let applied = []
// SIGUSR2: print what was applied since the last time, on one line.
process.on('SIGUSR2', () => {
  process.stdout.write(`applied ${JSON.stringify(applied)}\n`)
  applied = []
})
let retries = 0
const failures = []
async function join(i) {
  const name = `sim-${i}`
  for (let attempt = 1; ; attempt++) {
    try {
      return await joinHead({
        head,
        token,
        slots: 1,
        name,
        listen: [`/ip4/${source}/tcp/0`],
        slotProcess: inProcessSlot((update) => applied.push([update.i, name, now()])),
        onStatus: (status, detail) => {
          if (status === 'disconnected') process.stdout.write(`dropped ${name}: ${detail ?? ''}\n`)
        },
      })
    } catch (err) {
      if (performance.now() - start > JOIN_DEADLINE_MS) {
        process.stdout.write(`gave up on ${name}: ${err.name}: ${err.message.split('\n')[0]}\n`)
        return undefined
      }
      retries++
      failures.push(`${err.name}: ${err.message.split('\n')[0]}`)
      await new Promise((resolve) => setTimeout(resolve, Math.min(5, attempt) * 1000))
    }
  }
}

/**
 * Joins at once per process (`atOnce`). A head swamped by a thousand handshakes at once answers the dial's
 * probe too late (joinHead then fails as if the address were no head), so the nodes of each
 * process join a few at a time, as machines that boot over a minute or two would.
 */
const AT_ONCE = Number(atOnce)
const nodes = []
for (let i = 0; i < n; i += AT_ONCE) {
  const batch = Array.from({ length: Math.min(AT_ONCE, n - i) }, (_, j) => join(Number(first) + i + j))
  for (const node of await Promise.all(batch)) if (node !== undefined) nodes.push(node)
}
announceJoined({ nodes, ms: Math.round(performance.now() - start), retries, failures })

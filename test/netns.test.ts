import { fileURLToPath } from 'node:url'
import { afterEach, expect, it } from 'vitest'
import { BIN, waitFor as waitUntil } from './harness.js'
import { type NsProc, Topology } from './netns.js'

/**
 * The partition test: the head, two nodes and a client each in its own
 * network namespace, joined over veth links. A node's link is cut in the
 * middle of a map: its jobs move to the other node. Then the link comes back:
 * the node rejoins (or its old connection resumes), its late results may flow
 * again while the pool is still open, and nothing is doubled or lost.
 */

const CLIENT = fileURLToPath(new URL('./fixtures/map-client.js', import.meta.url))
const PORT = 8899
const COUNT = 300
/** Jobs of the first phase (the cut happens in it); the rest run after the link is back. */
const HOLD = 150
const DELAY_MS = 20
const LEASE_MS = 1500
const CUT_AFTER = 40
/** How long A's pre-cut connection must hold after the link is back to count as alive (if A did not rejoin). */
const OLD_CONNECTION_HELD_MS = 4000

interface Result {
  x: number
  node: string
  attempt: number
  /** When the client got it (Date.now() in the client; same clock as ours). */
  t: number
}

let net: Topology | undefined

afterEach(async () => {
  await net?.destroy()
  net = undefined
})

function results(client: NsProc): Result[] {
  return client
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Result)
}

function count(text: string, pattern: RegExp): number {
  return text.split('\n').filter((line) => pattern.test(line)).length
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

it('cuts a node off in the middle of a map: its jobs move, and after the link is back nothing is doubled', {
  timeout: 90_000,
}, async () => {
  const started = Date.now()
  net = await Topology.create(['a', 'b', 'client'])
  const topo = net

  const { head, address: headAddress } = await topo.startHead(PORT)

  const a = topo.run('a', [BIN, 'join', headAddress('a'), '--slots', '2', '--name', 'node-a'])
  const b = topo.run('b', [BIN, 'join', headAddress('b'), '--slots', '2', '--name', 'node-b'])
  await Promise.all([a.waitForLine(/^ready$/, 30_000), b.waitForLine(/^ready$/, 30_000)])
  const peerIdOf = (proc: NsProc): string => {
    const id = /^node (\S+) with/m.exec(proc.output())?.[1]
    if (id === undefined) throw new Error(`no peer id in the node's output:\n${proc.output()}`)
    return id
  }
  const aId = peerIdOf(a)
  const bId = peerIdOf(b)

  const client = topo.run(
    'client',
    [
      CLIENT,
      JSON.stringify({ head: headAddress('client'), count: COUNT, delayMs: DELAY_MS, leaseMs: LEASE_MS, hold: HOLD }),
    ],
    { stdin: true },
  )
  const state = (): string =>
    `--- head:\n${head.output()}\n--- node a:\n${a.output()}\n--- node b:\n${b.output()}\n--- client:\n${client.output()}`
  const clientExited = (): boolean => client.child.exitCode !== null || client.child.signalCode !== null

  // Phase 1: cut A once the map is well under way on both nodes.
  await waitUntil(
    () => {
      const got = results(client)
      return (got.length >= CUT_AFTER && got.some((r) => r.node === aId)) || clientExited()
    },
    30_000,
    `${CUT_AFTER} results, some of them from node A`,
    state,
  )
  expect(clientExited(), state()).toBe(false)
  const beforeCut = results(client)
  expect(
    beforeCut.some((r) => r.node === aId),
    'node A ran jobs before the cut',
  ).toBe(true)
  const cutAt = Date.now()
  await topo.cut('a')

  // Every job of the first phase finishes, those A held included, with A unreachable.
  await waitUntil(
    () => /^holding /m.test(client.output()) || clientExited(),
    45_000,
    `the first ${HOLD} jobs to finish with node A cut off`,
    state,
  )
  expect(clientExited(), state()).toBe(false)
  const phase1 = results(client)
  expect(new Set(phase1.map((r) => r.x)).size).toBe(HOLD)

  // A's jobs moved to B: they are the ones with attempt > 1.
  const reassigned = phase1.filter((r) => r.attempt > 1)
  expect(reassigned.length, `no job was retried, yet node A was busy at the cut\n${state()}`).toBeGreaterThan(0)
  expect(reassigned.every((r) => r.node === bId)).toBe(true)
  // The head can hear nothing from A after the cut, and it reassigns A's jobs only
  // after (today) dropping its connection or (with leases) the lease's end: any
  // result of A's still in flight reached the client before the first reassigned
  // one. From there on, until the link is back, only B returns results.
  const firstMoved = phase1.findIndex((r) => r.attempt > 1)
  const afterMove = phase1.slice(firstMoved)
  expect(afterMove.filter((r) => r.node !== bId)).toEqual([])
  const lateFromA = phase1.slice(beforeCut.length).filter((r) => r.node === aId)
  const moveMs = (phase1[firstMoved] as Result).t - cutAt
  console.log(
    `netns partition: the first of node A's jobs finished on node B ${moveMs} ms after the cut ` +
      `(lease ${LEASE_MS} ms; ${reassigned.length} job(s) moved; ${lateFromA.length} result(s) of A's arrived just after the cut)`,
  )

  // Bring the link back and wait until A serves the head again: either A rejoined
  // by itself (a fresh connection), or its old connection survived the cut (no
  // side saw it drop); that one counts once it has held for a few seconds over
  // the restored link, long enough for libp2p's connection monitor to ping
  // through it, so that it is not about to drop in the middle of phase 2.
  const restoredAt = Date.now()
  await topo.restore('a')
  const aEvent = (what: string): RegExp => new RegExp(`^node node-a \\(${escapeRegExp(aId)}\\) ${what}`)
  let connectedSince: number | undefined
  const aBack = (): boolean => {
    const joined = count(head.output(), aEvent('joined'))
    const left = count(head.output(), aEvent('left'))
    const lost = count(a.output(), /^lost the head/)
    if (joined !== left + 1 || joined < lost + 1) {
      connectedSince = undefined
      return false
    }
    if (joined > 1) return true
    connectedSince ??= Date.now()
    return Date.now() - connectedSince >= OLD_CONNECTION_HELD_MS
  }
  await waitUntil(aBack, 30_000, 'node A to be back with the head after the link came up', state)
  const rejoinMs = Date.now() - restoredAt
  const rejoined = count(head.output(), aEvent('joined')) > 1

  // Phase 2 runs on both nodes, with the pool still open: late results of A's
  // can flow again now, and none may reach the client a second time.
  client.send('go')
  await waitUntil(() => clientExited(), 30_000, 'the client to finish and exit', state)
  expect(await client.exited, state()).toBe(0)
  expect(client.output()).toMatch(new RegExp(`^done ${COUNT}$`, 'm'))

  const all = results(client)
  const xs = all.map((r) => r.x).sort((p, q) => p - q)
  expect(xs).toEqual(Array.from({ length: COUNT }, (_, x) => x))
  const phase2 = all.slice(phase1.length)
  const phase2FromA = phase2.filter((r) => r.node === aId).length
  // A result of A's that the client receives after the link is back was sent after
  // any older one on the same connection: A's late results, if any, have flowed.
  expect(phase2FromA, `node A got no work after it came back\n${state()}`).toBeGreaterThan(0)
  console.log(
    `netns partition: node A ${rejoined ? `rejoined ${rejoinMs} ms after the link came up` : 'kept its connection through the cut'} ` +
      `and ran ${phase2FromA} of the last ${COUNT - HOLD} jobs; ${COUNT} results, each once; ` +
      `whole test ${Date.now() - started} ms`,
  )
})

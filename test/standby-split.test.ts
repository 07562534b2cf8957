import { copyFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, expect, it } from 'vitest'
import { BIN, type Proc, waitFor } from './harness.js'
import { Lan } from './netns-heads.js'

/**
 * The split test: a primary, its standby, two nodes and three clients, each in
 * its own network namespace on one LAN. The path between the two heads alone
 * is cut (both ways) in the middle of a map. The standby's lease on the
 * primary runs out, but the nodes still have the primary and none comes to the
 * standby, so by the split rule it stays standby: only the primary runs jobs.
 * A client that reaches only the standby is told which head is active. Once
 * the cut heals, the standby hears the primary again, and a new map completes.
 */

const CLIENT = fileURLToPath(new URL('./fixtures/map-client.js', import.meta.url))
const PORT = 8899
const COUNT = 300
/** Jobs of the first phase (the cut happens in it); the rest run after the cut heals. */
const HOLD = 150
const DELAY_MS = 20
const CUT_AFTER = 40
/**
 * The cut lasts past this (ANY_NODE_AFTER_MS of head/standby-role.ts: after so long a silence
 * one node that came would be enough for a takeover), to show that no node comes at all.
 */
const LONG_SILENCE_MS = 10_000

let lan: Lan | undefined

afterEach(async () => {
  await lan?.destroy()
  lan = undefined
})

interface Result {
  x: number
  node: string
}

function results(client: Proc): Result[] {
  return client
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Result)
}

const xsOf = (list: Result[]): number[] => list.map((r) => r.x).sort((p, q) => p - q)
const range = (n: number): number[] => Array.from({ length: n }, (_, x) => x)
const exited = (proc: Proc): boolean => proc.child.exitCode !== null || proc.child.signalCode !== null

/** The primary and its standby (with a copy of the primary's admin key), each in its own namespace. */
async function startHeads(
  net: Lan,
): Promise<{ primary: Proc; standby: Proc; primaryAddr: string; standbyAddr: string }> {
  const headArgs = (role: string): string[] => {
    mkdirSync(join(net.dir, role), { recursive: true })
    return [
      BIN,
      'head',
      '--host',
      '0.0.0.0',
      '--port',
      String(PORT),
      '--no-work',
      '--key-file',
      join(net.dir, role, 'head.key'),
    ]
  }
  const addressOf = (role: string, proc: Proc): string => {
    const id = /^meshpool head (\S+)/m.exec(proc.output())?.[1]
    if (id === undefined) throw new Error(`no peer id in the head's output:\n${proc.output()}`)
    return `/ip4/${net.ip(role)}/tcp/${PORT}/p2p/${id}`
  }
  const primary = net.run('p', headArgs('p'))
  await primary.waitForLine(/^ready$/, 30_000)
  const primaryAddr = addressOf('p', primary)
  const standbyArgs = headArgs('s')
  copyFileSync(join(net.dir, 'p', 'admin.key'), join(net.dir, 's', 'admin.key'))
  const standby = net.run('s', [...standbyArgs, '--standby', primaryAddr])
  await standby.waitForLine(/^ready$/, 30_000)
  return { primary, standby, primaryAddr, standbyAddr: addressOf('s', standby) }
}

/**
 * During the cut: a map started by a client that reaches both heads runs (on the primary),
 * and a client that reaches the standby only is told which head is active.
 */
async function clientsDuringTheCut(net: Lan, primaryAddr: string, standbyAddr: string, state: () => string) {
  const heads = `${primaryAddr},${standbyAddr}`
  const during = net.run('e', [CLIENT, JSON.stringify({ head: heads, count: 60, delayMs: 5 })])
  expect(await during.exited, `--- client e:\n${during.output()}\n${state()}`).toBe(0)
  expect(xsOf(results(during))).toEqual(range(60))
  await net.cut('d', 'p')
  const stranded = net.run('d', [CLIENT, JSON.stringify({ head: heads, count: 1 })])
  expect(await stranded.exited, stranded.output()).toBe(1)
  expect(stranded.output()).toMatch(
    new RegExp(
      `HeadUnreachableError: the head at ${standbyAddr} is a standby; the active head is ${primaryAddr}: no head listed answered as the active head`,
    ),
  )
}

it('the heads lose sight of each other but not of the nodes: only the primary runs jobs, and after the cut heals one head is active', {
  timeout: 150_000,
}, async () => {
  const started = Date.now()
  lan = await Lan.create(['p', 's', 'a', 'b', 'c', 'd', 'e'])
  const net = lan
  const { primary, standby, primaryAddr, standbyAddr } = await startHeads(net)
  const a = net.run('a', [BIN, 'join', primaryAddr, standbyAddr, '--slots', '2', '--name', 'node-a'])
  const b = net.run('b', [BIN, 'join', primaryAddr, standbyAddr, '--slots', '2', '--name', 'node-b'])
  await Promise.all([a.waitForLine(/^ready$/, 30_000), b.waitForLine(/^ready$/, 30_000)])
  const job = { head: `${primaryAddr},${standbyAddr}`, count: COUNT, delayMs: DELAY_MS, hold: HOLD }
  const client = net.run('c', [CLIENT, JSON.stringify(job)], { stdin: true })
  const procs = { primary, standby, a, b, client }
  const state = (): string =>
    Object.entries(procs)
      .map(([name, proc]) => `--- ${name}:\n${proc.output()}`)
      .join('\n')

  // The cut, once the map is well under way on both nodes.
  await waitFor(() => results(client).length >= CUT_AFTER || exited(client), 60_000, 'results before the cut', state)
  expect(exited(client), state()).toBe(false)
  const cutAt = Date.now()
  await net.cut('p', 's')
  // The standby's lease runs out; no node comes to it, so it stays standby (it knew of both nodes).
  await standby.waitForLine(
    /said nothing for \d+ ms, but only 0 of the 2 nodes it held came here: this head stays standby/,
    20_000,
  )
  const heldOffMs = Date.now() - cutAt
  // The map started before the cut finishes its first phase, every result once.
  await waitFor(() => /^holding /m.test(client.output()) || exited(client), 60_000, `the first ${HOLD} jobs`, state)
  expect(exited(client), state()).toBe(false)
  expect(xsOf(results(client))).toEqual(range(HOLD))
  await clientsDuringTheCut(net, primaryAddr, standbyAddr, state)
  await waitFor(
    () => Date.now() - cutAt > LONG_SILENCE_MS + 2000 || /takes over/.test(standby.output()),
    LONG_SILENCE_MS + 10_000,
    'the cut to outlast the long silence',
    state,
  )
  // Through the cut: the standby never took over (so it leased no job), the primary never
  // stepped down, and neither node ever lost the primary.
  expect(standby.output(), state()).not.toMatch(/takes over/)
  expect(primary.output(), state()).not.toMatch(/steps down/)
  for (const node of [a, b]) expect(node.output(), state()).not.toMatch(/lost the head/)

  // The cut heals: the standby hears the primary again and stays its standby; a new map completes.
  const cutMs = Date.now() - cutAt
  await net.heal('p', 's')
  await standby.waitForLine(/the active head \S+ is heard again: this head stays its standby/, 30_000)
  client.send('go')
  await waitFor(() => exited(client), 60_000, 'the client to finish', state)
  expect(await client.exited, state()).toBe(0)
  expect(xsOf(results(client))).toEqual(range(COUNT))
  const status = net.run('e', [BIN, 'status', primaryAddr, standbyAddr, '--json'])
  expect(await status.exited, status.output()).toBe(0)
  expect(JSON.parse(status.output()).heads).toMatchObject({
    peerId: primaryAddr.split('/p2p/')[1],
    active: true,
    takeovers: 0,
  })
  expect(standby.output(), state()).not.toMatch(/takes over/)
  expect(primary.output(), state()).not.toMatch(/steps down/)
  console.log(
    `standby split: the standby held off ${heldOffMs} ms after the cut; cut for ${cutMs} ms; ` +
      `${COUNT} + 60 results, each once; whole test ${Date.now() - started} ms`,
  )
})

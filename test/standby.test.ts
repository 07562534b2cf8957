import { copyFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { HEADS_PROTOCOL } from '@meshpool/core'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type Head,
  joinNode,
  meshpool,
  type Out,
  PASSWORD,
  type Proc,
  startHead,
  stopAll,
  tempDir,
  WORKER,
  waitFor,
} from './harness.js'
import { fuzzProtocol, hostilePeer, seeded } from './hostile-peer.js'
import { get } from './http-get.js'

afterEach(stopAll)

const jobs = (n: number, delayMs: number) => Array.from({ length: n }, (_, x) => ({ x, delayMs }))
const xsOf = (results: Out[]) => results.map((r) => r.x).sort((p, q) => p - q)
const range = (n: number) => Array.from({ length: n }, (_, x) => x)

/** A primary and its standby on 127.0.0.1: the standby has its own identity and a copy of the primary's admin.key. */
async function twoHeads(
  standbyArgs: string[] = [],
): Promise<{ primary: Head; standby: Head; primaryKey: string; heads: string[] }> {
  const primaryKey = join(tempDir(), 'head.key')
  const primary = await startHead({ noWork: true, keyFile: primaryKey })
  const standbyKey = join(tempDir(), 'head.key')
  copyFileSync(join(dirname(primaryKey), 'admin.key'), join(dirname(standbyKey), 'admin.key'))
  const standby = await startHead({
    noWork: true,
    keyFile: standbyKey,
    args: ['--standby', primary.address, ...standbyArgs],
  })
  // Its join line lists both heads, the primary first.
  const joinLine = await standby.waitForLine(/meshpool join /)
  const listed = joinLine.match(/\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+/g) ?? []
  expect(listed[0]).toBe(primary.address)
  const ownAddress = listed[1] as string
  const peerId = /^meshpool head (\S+)/m.exec(standby.output())?.[1]
  expect(ownAddress).toMatch(new RegExp(`/p2p/${peerId}$`))
  const heads = [primary.address, ownAddress]
  return { primary, standby: { ...standby, address: ownAddress, peerId: peerId as string }, primaryKey, heads }
}

/** When `proc` prints a line matching `pattern` (as this process sees it). */
function lineSeenAt(proc: Proc, pattern: RegExp, timeoutMs = 30_000): Promise<number> {
  return proc.waitForLine(pattern, timeoutMs).then(() => Date.now())
}

describe('a standby head', () => {
  it('SIGKILL of the active head during a map of 1,000 jobs of 20 ms on 2 nodes: the standby takes over, every result once', async () => {
    const { primary, standby, heads } = await twoHeads()
    await Promise.all([joinNode(heads.join(','), 2), joinNode(heads.join(','), 2)])
    await using pool = await createPool({ worker: WORKER, head: heads, password: PASSWORD, output: 'ignore' })
    await pool.updateWorkers({ v: 1 })
    const results: Out[] = []
    let killedAt = 0
    let takeover: Promise<number> | undefined
    const done = pool.imapUnordered(jobs(1000, 20))
    for await (const r of done) {
      results.push(r as Out)
      if (killedAt === 0 && results.length === 300) {
        takeover = lineSeenAt(standby, /takes over/)
        primary.child.kill('SIGKILL')
        killedAt = Date.now()
      }
    }
    const tookOverAt = await (takeover as Promise<number>)
    expect(xsOf(results)).toEqual(range(1000))
    for (const r of results) expect(r.y).toBe(2 * r.x)
    // The update sent before the kill is still seen by the jobs that ran on the standby.
    for (const r of results.filter((r) => r.startedAt >= tookOverAt)) expect(r.updates).toEqual([{ v: 1 }])
    // The first job that ran on the standby: one that started after it took over.
    const resumedAt = Math.min(...results.map((r) => r.startedAt).filter((t) => t >= tookOverAt))
    const takeoverMs = resumedAt - killedAt
    console.log(
      `standby takeover: active at +${tookOverAt - killedAt} ms, first job running again at +${takeoverMs} ms after SIGKILL`,
    )
    expect(takeoverMs).toBeLessThan(2000)
    expect(await pool.nodesCount()).toBe(2)
  })

  it('SIGSTOP of the active head: the standby takes over; on SIGCONT the old head steps down, and nothing is doubled', async () => {
    const { primary, standby, heads } = await twoHeads()
    // `meshpool join` takes the heads as arguments of their own too.
    const joined = [meshpool(['join', ...heads, '--slots', '2']), meshpool(['join', ...heads, '--slots', '2'])]
    await Promise.all(joined.map((node) => node.waitForLine(/^ready$/)))
    await using pool = await createPool({ worker: WORKER, head: heads, password: PASSWORD, output: 'ignore' })
    const results: Out[] = []
    let stopped = false
    for await (const r of pool.imapUnordered(jobs(400, 20))) {
      results.push(r as Out)
      if (!stopped && results.length === 100) {
        stopped = true
        primary.child.kill('SIGSTOP')
      }
    }
    expect(standby.output()).toMatch(/takes over \(term 2\)/)
    expect(xsOf(results)).toEqual(range(400))
    primary.child.kill('SIGCONT')
    await primary.waitForLine(/steps down to standby/)
    // One active head afterwards: the standby never stepped down, and a new map runs on it.
    const again = (await pool.map(jobs(100, 5))) as Out[]
    expect(again.map((r) => r.y)).toEqual(range(100).map((x) => 2 * x))
    expect(standby.output()).not.toMatch(/steps down/)
    expect(await pool.nodesCount()).toBe(2)
  })

  it('the old head restarted with its key file and port learns the standby is active and becomes the standby', async () => {
    const { primary, standby, primaryKey, heads } = await twoHeads(['--dashboard-port', '0'])
    const port = Number(/\/tcp\/(\d+)\//.exec(primary.address)?.[1])
    const [first] = await Promise.all([joinNode(heads.join(','), 2), joinNode(heads.join(','), 2)])
    await using pool = await createPool({ worker: WORKER, head: heads, password: PASSWORD, output: 'ignore' })
    expect(((await pool.map(jobs(50, 5))) as Out[]).length).toBe(50)
    const takeover = lineSeenAt(standby, /takes over/)
    primary.child.kill('SIGKILL')
    await takeover
    const back = await startHead({ noWork: true, keyFile: primaryKey, port })
    await back.waitForLine(/steps down to standby/)
    const results = (await pool.map(jobs(200, 5))) as Out[]
    expect(xsOf(results)).toEqual(range(200))
    expect(standby.output()).not.toMatch(/steps down/)
    // A client that lists the heads in order, primary first, is sent on to the active one.
    await using late = await createPool({ worker: WORKER, head: heads.join(','), password: PASSWORD, output: 'ignore' })
    expect(await late.submit({ x: 21 })).toMatchObject({ y: 42 })
    expect(await late.nodesCount()).toBe(2)
    // Status (through either head) and the dashboard say which head is active, since when, and the takeovers.
    const status = meshpool(['status', ...heads, '--json'])
    expect(await status.exited).toBe(0)
    const { heads: role } = JSON.parse(status.output())
    expect(role).toMatchObject({ peerId: standby.peerId, active: true, takeovers: 1 })
    expect(role.since).toBeGreaterThan(Date.now() - 120_000)
    const text = meshpool(['status', primary.address, standby.address])
    expect(await text.exited).toBe(0)
    expect(text.output()).toMatch(new RegExp(`^active head ${standby.peerId} since \\S+; 1 takeover$`, 'm'))
    const dashboard = /dashboard at (http:\S+)/.exec(standby.output())?.[1] as string
    const state = JSON.parse((await get(new URL('/api/state', dashboard).href)).body)
    expect(state.heads).toMatchObject({ peerId: standby.peerId, active: true, takeovers: 1 })
    // The heads share the admin key: stop works through the heads after the takeover.
    const adminKey = join(dirname(primaryKey), 'admin.key')
    const stop = meshpool(['stop', ...heads, first.peerId, '--admin-key', adminKey])
    expect(await stop.exited, stop.output()).toBe(0)
    expect(stop.output()).toMatch(/^stopping /m)
    await waitFor(async () => (await late.nodesCount()) === 1, 20_000, 'the stopped node to leave')
  })

  it('a member without the admin key that speaks as a head is ignored: garbage and forged states bring no head down and move nothing', async () => {
    const { primary, standby, heads } = await twoHeads()
    await joinNode(heads.join(','), 2)
    await using pool = await createPool({ worker: WORKER, head: heads, password: PASSWORD, output: 'ignore' })
    const hostile = await hostilePeer(primary.peerId)
    try {
      const random = seeded(20261201)
      const fuzz = Promise.all([
        fuzzProtocol(hostile, primary.address, HEADS_PROTOCOL, 300, random),
        fuzzProtocol(hostile, standby.address, HEADS_PROTOCOL, 300, random),
      ])
      const results = (await pool.map(jobs(200, 5))) as Out[]
      await fuzz
      expect(xsOf(results)).toEqual(range(200))
    } finally {
      await hostile.stop()
    }
    for (const head of [primary, standby]) expect(head.child.exitCode, head.output()).toBeNull()
    expect(primary.output()).not.toMatch(/steps down/)
    expect(standby.output()).not.toMatch(/takes over/)
    expect(primary.output()).toMatch(/spoke as a head of this mesh without its admin key/)
    expect(((await pool.map([{ x: 21 }])) as Out[])[0]?.y).toBe(42)
  })
})

import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import {
  BLOB_PROTOCOL,
  CLIENT_PROTOCOL,
  CODE_PROTOCOL,
  encodeFrame,
  RELAY_PROTOCOL,
  WORK_PROTOCOL,
} from '@meshpool/core'
import { multiaddr } from '@multiformats/multiaddr'
import { createPeer, createPool, derivePoolKey, type MeshPeer, type Pool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { type JoinedNode, joinNode, meshpool, PASSWORD, type Proc, startHead, stopAll, WORKER } from './harness.js'
import { fuzzGossip, fuzzProtocol, hostilePeer, seeded, varint } from './hostile-peer.js'

afterEach(stopAll)

/** Writes per protocol: a few thousand in CI; FUZZ_FRAMES=100000 for the long run. */
const FRAMES = Number(process.env.FUZZ_FRAMES ?? 2000)
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 1e9))

const rssMB = (proc: Proc): number => {
  const status = readFileSync(`/proc/${proc.child.pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024
}

/** Runs honest maps one after another until `until` settles; checks each result. Returns how many jobs ran. */
async function honestMaps(pool: Pool, until: Promise<unknown>): Promise<number> {
  let done = false
  void until.finally(() => {
    done = true
  })
  let jobs = 0
  while (!done) {
    const params = Array.from({ length: 100 }, (_, x) => ({ x: x + jobs, delayMs: 2 }))
    const results = (await pool.map(params)) as Array<{ y: number; updates: unknown[] }>
    expect(results.map((r) => r.y)).toEqual(params.map((p) => p.x * 2))
    // No forged update reached a slot: this pool has sent none.
    expect(results.every((r) => r.updates.length === 0)).toBe(true)
    jobs += params.length
  }
  return jobs
}

describe('a member that sends garbage', () => {
  it(`on every protocol (${FRAMES} writes each, seed ${SEED}): the honest map's results are all correct, every peer stays up, memory stays bounded`, async () => {
    const head = await startHead({ noWork: true })
    const nodes: JoinedNode[] = [await joinNode(head.address, 1), await joinNode(head.address, 1)]
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    await pool.map([{ x: 0 }, { x: 1 }])
    const before = [head, ...nodes].map(rssMB)
    const random = seeded(SEED)
    const hostile = await hostilePeer(head.peerId)
    const report: Record<string, unknown> = {}
    const fuzz = (async () => {
      for (const protocol of [WORK_PROTOCOL, CLIENT_PROTOCOL, CODE_PROTOCOL, BLOB_PROTOCOL, RELAY_PROTOCOL]) {
        report[`head ${protocol}`] = await fuzzProtocol(hostile, head.address, protocol, FRAMES, random)
      }
      // Nodes serve blobs to each other: the same for one of them.
      const nodeAddress = /listens for other nodes on (\S+)/.exec(nodes[0]?.output() ?? '')?.[1] as string
      report[`node ${BLOB_PROTOCOL}`] = await fuzzProtocol(hostile, nodeAddress, BLOB_PROTOCOL, FRAMES, random)
      report.gossip = await fuzzGossip(hostile, 300, random)
    })()
    try {
      const jobs = await honestMaps(pool, fuzz)
      await fuzz
      report.honestJobs = jobs
    } catch (err) {
      // Say which peer went down, and how.
      const down = [head, ...nodes].filter((proc) => proc.child.exitCode !== null || proc.child.signalCode !== null)
      throw new Error(`${(err as Error).message}\n${down.map((proc) => proc.output().slice(-3000)).join('\n---\n')}`)
    } finally {
      await hostile.stop()
    }
    for (const proc of [head, ...nodes]) expect(proc.child.exitCode, proc.output()).toBeNull()
    const after = [head, ...nodes].map(rssMB)
    console.log(
      `fuzz seed ${SEED}: ${JSON.stringify(report)}\n` +
        `RSS MB before → after: head ${before[0]?.toFixed(0)} → ${after[0]?.toFixed(0)}, ` +
        `nodes ${before[1]?.toFixed(0)} → ${after[1]?.toFixed(0)}, ${before[2]?.toFixed(0)} → ${after[2]?.toFixed(0)}`,
    )
    // Garbage costs no memory that stays: each peer ends under twice its idle size.
    for (const [i, mb] of after.entries())
      expect(mb, `peer ${i} (0: the head) RSS after the fuzz`).toBeLessThan(2 * (before[i] ?? 0))
    // And the mesh still works as before.
    expect(((await pool.map([{ x: 21 }])) as Array<{ y: number }>)[0]?.y).toBe(42)
    expect(await pool.nodesCount()).toBe(2)
  })
})

/** A connection that sends bytes no meshpool peer would: it is dropped before any crypto. */
function garbageConnection(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.setTimeout(3000, () => socket.destroy())
    socket.once('connect', () => socket.end(Buffer.concat([randomBytes(24), randomBytes(120)])))
    socket.once('error', () => resolve())
    socket.once('close', () => resolve())
    socket.resume()
  })
}

/** A whole handshake with the wrong password: Noise, then a proof the head refuses. */
async function wrongPasswordHandshake(peer: MeshPeer, head: string): Promise<void> {
  await peer.dial(multiaddr(head), { signal: AbortSignal.timeout(5000) }).then(
    () => {
      throw new Error('the head took a wrong password')
    },
    () => {},
  )
}

describe('a flood of wrong-password handshakes', () => {
  it('hundreds a second for 10 s: the honest map completes and the head stays small', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 2)
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    const port = Number(/tcp\/(\d+)/.exec(head.address)?.[1])
    // Peers of their own: libp2p merges concurrent dials of one peer to the same address.
    const wrongKey = derivePoolKey('not the pool password', '', head.peerId)
    const wrong = await Promise.all(Array.from({ length: 20 }, () => createPeer({ psk: wrongKey })))
    const idle = rssMB(head)
    let sent = 0
    let peak = idle
    const floodUntil = Date.now() + 10_000
    const flood = (async () => {
      while (Date.now() < floodUntil) {
        const tick = Date.now()
        await Promise.all([
          ...Array.from({ length: 20 }, () => garbageConnection(port)),
          ...wrong.map((peer) => wrongPasswordHandshake(peer, head.address)),
        ])
        sent += 40
        peak = Math.max(peak, rssMB(head))
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - (Date.now() - tick))))
      }
    })()
    const jobs = await honestMaps(pool, flood)
    await flood
    await Promise.all(wrong.map((peer) => peer.stop()))
    const perSecond = sent / 10
    console.log(
      `flood: ${sent} wrong-password handshakes in 10 s (${perSecond.toFixed(0)}/s); ${jobs} honest jobs, all correct; head RSS ${idle.toFixed(0)} MB idle, ${peak.toFixed(0)} MB at most`,
    )
    expect(perSecond).toBeGreaterThanOrEqual(100)
    expect(jobs).toBeGreaterThan(0)
    expect(peak).toBeLessThan(idle + 150)
    expect(head.child.exitCode).toBeNull()
  })
})

describe("a member's crafted frames", () => {
  it('95 MiB of empty maps, a hello claiming 4,000,000,000 slots, a status frame of 1 MiB: refused, the head stays up and small, status and honest maps still work', async () => {
    const head = await startHead({ noWork: true, args: ['--dashboard-port', '0'] })
    await joinNode(head.address, 2)
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    expect(await pool.map([{ x: 1 }])).toEqual([expect.objectContaining({ y: 2 })])
    const idle = rssMB(head)
    const rogue = await hostilePeer(head.peerId)
    try {
      const frame = (body: Uint8Array): Uint8Array => Buffer.concat([varint(body.byteLength), body])
      const emptyMaps = new Uint8Array(95 * 1024 * 1024).fill(0xa0)
      emptyMaps.set([0x9a, ...[0, 0, 0, 0]], 0)
      new DataView(emptyMaps.buffer).setUint32(1, emptyMaps.length - 5)
      const client = await rogue.dialProtocol(multiaddr(head.address), CLIENT_PROTOCOL)
      client.send(frame(emptyMaps))
      const work = await rogue.dialProtocol(multiaddr(head.address), WORK_PROTOCOL)
      work.send(frame(encodeFrame({ type: 'hello', name: 'greedy', slots: 4_000_000_000 })))
      const another = await rogue.dialProtocol(multiaddr(head.address), WORK_PROTOCOL)
      another.send(
        frame(
          encodeFrame({
            type: 'hello',
            name: 'many-gpus',
            slots: 2,
            gpus: new Array(5000).fill({ index: 0, name: 'x', memoryMB: 1 }),
          }),
        ),
      )
      const stats = await rogue.dialProtocol(multiaddr(head.address), CLIENT_PROTOCOL)
      stats.send(frame(encodeFrame({ type: 'stats', reqId: 1, padding: new Uint8Array(1024 * 1024) })))
      // The head answers status, with no node of the rogue's, and runs honest jobs.
      const status = meshpool(['status', head.address, '--json'])
      expect(await status.exited, status.output()).toBe(0)
      const nodes = (JSON.parse(status.output()) as { nodes: Array<{ name: string; slots: unknown[] }> }).nodes
      expect(nodes.map((n) => n.name)).not.toContain('greedy')
      expect(nodes.every((n) => n.slots.length <= 1024)).toBe(true)
      const params = Array.from({ length: 200 }, (_, x) => ({ x }))
      expect(((await pool.map(params)) as Array<{ y: number }>).map((r) => r.y)).toEqual(params.map((p) => 2 * p.x))
      const peak = rssMB(head)
      console.log(`crafted frames: head RSS ${idle.toFixed(0)} MB idle, ${peak.toFixed(0)} MB after`)
      // Refused from their first bytes: not even the 95 MiB frame is buffered.
      expect(peak).toBeLessThan(2 * idle)
      expect(head.child.exitCode).toBeNull()
    } finally {
      await rogue.stop()
    }
  })
})

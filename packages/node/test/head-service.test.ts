import {
  type ClientMessage,
  encodeValue,
  type HeadToClientMessage,
  type HeadToNodeMessage,
  type NodeMessage,
  type UpdateEntry,
} from '@meshpool/core'
import { afterEach, describe, expect, it } from 'vitest'
import { HeadService } from '../src/head/head-service.js'
import { DIRECT_UPDATE_BYTES } from '../src/head/update-fanout.js'
import { channelPair } from '../src/net/memory-channel.js'
import { until } from './head-fakes.js'

const LEASE_MS = 1000

/** One side of an in-memory channel, as the test holds it: what it sent and what it got. */
function peerSide<In extends { type: string }, Out>() {
  const [mine, theirs] = channelPair<In, Out>()
  const inbox: In[] = []
  let closed = false
  mine.start({ message: (m) => inbox.push(m), close: () => (closed = true) })
  const of = <T extends In['type']>(type: T) => inbox.filter((m): m is Extract<In, { type: T }> => m.type === type)
  return { theirs, send: (m: Out) => mine.send(m), inbox, of, closed: () => closed }
}

/** A head with a clock the test moves, and a lease clock it ticks by hand (and what it published on gossip). */
function headWithClock() {
  const clock = { now: 1_000_000, timers: 0, tick: () => {} }
  const published: UpdateEntry[] = []
  const head = new HeadService({
    publish: (entry) => published.push(entry),
    now: () => clock.now,
    repeat: (tick) => {
      clock.timers++
      clock.tick = tick
      return () => {
        clock.tick = () => {}
      }
    },
    onNote: () => {},
  })
  heads.push(head)
  return { head, clock, published }
}

async function fakeNode(head: HeadService, id: string, slots = 1) {
  const node = peerSide<HeadToNodeMessage, NodeMessage>()
  head.attachNode(id, node.theirs)
  node.send({ type: 'hello', name: id, slots })
  await until(() => node.of('welcome').length > 0, `${id} welcomed`)
  return node
}

async function fakeClient(head: HeadService) {
  const client = peerSide<HeadToClientMessage, ClientMessage>()
  head.attachClient(client.theirs)
  client.send({ type: 'open', worker: 'worker.js', init: encodeValue({}), settings: { leaseMs: LEASE_MS } })
  await until(() => client.of('opened').length > 0, 'the pool opened')
  return { ...client, results: () => client.of('results').flatMap((m) => m.results) }
}

const heads: HeadService[] = []
afterEach(() => {
  for (const head of heads.splice(0)) head.stop()
})

describe('the head service over in-memory channels', () => {
  it('leases a client’s job to a node that pulls, and routes its result back to the client', async () => {
    const { head } = headWithClock()
    const node = await fakeNode(head, 'node-1')
    const client = await fakeClient(head)
    client.send({ type: 'submit', jobs: [{ id: 7, params: encodeValue({ x: 2 }) }] })
    node.send({ type: 'pull', n: 1 })
    await until(() => node.of('lease').length > 0, 'a lease')
    expect(node.of('pool').map((m) => m.pool.worker)).toEqual(['worker.js'])
    const [job] = node.of('lease').flatMap((m) => m.jobs)
    if (job === undefined) throw new Error('no job leased')
    expect(job.attempt).toBe(1)
    expect([...job.params]).toEqual([...encodeValue({ x: 2 })])
    node.send({
      type: 'results',
      results: [{ jobId: job.jobId, leaseId: job.leaseId, ok: true, value: encodeValue(4) }],
    })
    await until(() => client.results().length > 0, 'the result')
    expect(client.results()).toEqual([{ id: 7, ok: true, value: encodeValue(4) }])
    expect(head.snapshot().counts).toMatchObject({ done: 1, queued: 0, leased: 0 })
    client.send({ type: 'stats', reqId: 3 })
    await until(() => client.of('stats').length > 0, 'the stats')
    expect(client.of('stats')).toEqual([{ type: 'stats', reqId: 3, workers: 1, nodes: 1 }])
  })

  it('gives the job of a node that goes silent to another node once its lease runs out', async () => {
    const { head, clock } = headWithClock()
    head.start()
    const silent = await fakeNode(head, 'silent')
    const client = await fakeClient(head)
    client.send({ type: 'submit', jobs: [{ id: 1, params: encodeValue(1) }] })
    silent.send({ type: 'pull', n: 1 })
    await until(() => silent.of('lease').length > 0, 'the first lease')
    const [first] = silent.of('lease').flatMap((m) => m.jobs)
    const other = await fakeNode(head, 'other')
    other.send({ type: 'pull', n: 1 })
    clock.now += LEASE_MS / 2
    other.send({ type: 'heartbeat' })
    clock.tick()
    await until(() => head.nodes().find((n) => n.nodeId === 'other')?.lastHeartbeat === clock.now, 'a heartbeat')
    // Not yet expired: the job stays with the silent node.
    expect(other.of('lease')).toEqual([])
    clock.now += LEASE_MS / 2
    clock.tick()
    await until(() => other.of('lease').length > 0, 'the job leased again')
    const [second] = other.of('lease').flatMap((m) => m.jobs)
    expect(second).toMatchObject({ jobId: first?.jobId, attempt: 2 })
    expect(second?.leaseId).not.toBe(first?.leaseId)
    other.send({
      type: 'results',
      results: [{ jobId: second?.jobId ?? 0, leaseId: second?.leaseId ?? 0, ok: true, value: encodeValue('b') }],
    })
    await until(() => client.results().length > 0, 'the result')
    // The silent node's late answer comes after the job is done: the client hears one result only.
    silent.send({
      type: 'results',
      results: [{ jobId: first?.jobId ?? 0, leaseId: first?.leaseId ?? 0, ok: true, value: encodeValue('a') }],
    })
    await until(() => head.snapshot().counts.done === 1, 'the job done')
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
    expect(client.results()).toEqual([{ id: 1, ok: true, value: encodeValue('b') }])
    expect(head.snapshot().counts).toMatchObject({ done: 1, expired: 1 })
  })

  it('gives a node that was silent and is back jobs again without it asking again', async () => {
    const { head, clock } = headWithClock()
    head.start()
    const node = await fakeNode(head, 'late')
    const client = await fakeClient(head)
    // The node asks for 4 while idle, gets 1, and goes silent: it still counts 3 as asked for.
    node.send({ type: 'pull', n: 4 })
    client.send({ type: 'submit', jobs: [{ id: 1, params: encodeValue(1) }] })
    await until(() => node.of('lease').length === 1, 'the first lease')
    clock.now += LEASE_MS
    clock.tick()
    await until(() => head.snapshot().counts.expired === 1, 'its lease expired')
    node.send({ type: 'heartbeat' })
    client.send({ type: 'submit', jobs: [{ id: 2, params: encodeValue(2) }] })
    await until(
      () => node.of('lease').flatMap((m) => m.jobs).length >= 3,
      'its job back and the new one, on credit it had',
    )
  })

  it('runs its lease clock only between start() and stop(), both idempotent, and closes every channel on stop', async () => {
    const { head, clock } = headWithClock()
    expect(clock.timers).toBe(0)
    head.start()
    head.start()
    expect(clock.timers).toBe(1)
    const node = await fakeNode(head, 'node-1')
    const client = await fakeClient(head)
    head.stop()
    head.stop()
    await until(() => node.closed() && client.closed(), 'both channels closed')
    // Nothing attaches to a stopped head, and it does not start again.
    const late = peerSide<HeadToNodeMessage, NodeMessage>()
    head.attachNode('late', late.theirs)
    await until(() => late.closed(), 'a late node turned away')
    head.start()
    expect(clock.timers).toBe(1)
  })

  it('sends a small update to each node of its pool on its link, and a big one on gossip', async () => {
    const { head, published } = headWithClock()
    const nodes = [await fakeNode(head, 'node-1'), await fakeNode(head, 'node-2'), await fakeNode(head, 'node-3')]
    const client = await fakeClient(head)
    // Two of the three nodes are given the pool, with a job each.
    client.send({ type: 'submit', jobs: [1, 2].map((id) => ({ id, params: encodeValue(id) })) })
    for (const node of nodes.slice(0, 2)) node.send({ type: 'pull', n: 1 })
    await until(() => nodes.slice(0, 2).every((node) => node.of('lease').length > 0), 'both leases')
    const live = (node: (typeof nodes)[number]) => node.of('updates').filter((m) => m.live === true)
    client.send({ type: 'update', reqId: 1, value: encodeValue({ small: true }) })
    await until(() => client.of('updated').length === 1, 'the small update logged')
    await until(() => live(nodes[0] as (typeof nodes)[number]).length === 1, 'node-1 told')
    expect(nodes.map((node) => live(node).length)).toEqual([1, 1, 0])
    expect(published).toEqual([])
    // Copies to both nodes past the budget: one publish on gossip, no copies on the links.
    client.send({ type: 'update', reqId: 2, value: new Uint8Array(DIRECT_UPDATE_BYTES / 2 + 1) })
    await until(() => client.of('updated').length === 2, 'the big update logged')
    expect(published.map((entry) => entry.seq)).toEqual([2])
    expect(nodes.map((node) => live(node).length)).toEqual([1, 1, 0])
  })

  it('answers a heartbeat with the pools’ latest updates only when they changed since it last told the node', async () => {
    const { head } = headWithClock()
    const node = await fakeNode(head, 'node-1')
    const client = await fakeClient(head)
    client.send({ type: 'submit', jobs: [{ id: 1, params: encodeValue(1) }] })
    node.send({ type: 'pull', n: 1 })
    await until(() => node.of('lease').length > 0, 'a lease')
    client.send({ type: 'update', reqId: 1, value: encodeValue('a') })
    await until(() => client.of('updated').length === 1, 'the update logged')
    const heartbeats = async (n: number) => {
      for (let i = 0; i < n; i++) node.send({ type: 'heartbeat' })
      await until(() => head.nodes().find((s) => s.nodeId === 'node-1')?.lastHeartbeat !== undefined, 'heartbeats')
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
    }
    await heartbeats(3)
    expect(node.of('seqs').map((m) => m.seqs)).toEqual([[{ poolId: 1, seq: 1 }]])
    client.send({ type: 'update', reqId: 2, value: encodeValue('b') })
    await until(() => client.of('updated').length === 2, 'the second update logged')
    await heartbeats(2)
    expect(node.of('seqs').map((m) => m.seqs)).toEqual([[{ poolId: 1, seq: 1 }], [{ poolId: 1, seq: 2 }]])
  })
})

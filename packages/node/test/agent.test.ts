import { encodeValue, type HeadToNodeMessage, type NodeMessage } from '@meshpool/core'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { channelPair } from '../src/net/memory-channel.js'
import { NodeAgent } from '../src/node/agent.js'
import { IDLE_HEARTBEAT_MS } from '../src/node/head-link.js'
import { FakeProcess, job, settle, spec } from './fake-slot.js'

// The agent's parts wired together, over an in-memory channel to a head the test plays, with
// fake slot processes. Timeouts are faked (heartbeats); the channel's deliveries are real turns.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
})
afterEach(() => {
  vi.useRealTimers()
})

/** Lets what was sent either way arrive (each channel delivers at the end of a turn), and what follows settle. */
const turn = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setImmediate(resolve))
    await settle()
  }
}

function agentWithHead() {
  const processes: FakeProcess[] = []
  const agent = new NodeAgent({
    slots: 1,
    name: 'n1',
    slotProcess: (index, events) => {
      const fake = new FakeProcess(events)
      processes[index] = fake
      return fake
    },
  })
  const [agentSide, headSide] = channelPair<HeadToNodeMessage, NodeMessage>()
  const heard: NodeMessage[] = []
  headSide.start({ message: (message) => heard.push(message), close: () => {} })
  agent.start()
  void agent.connect(agentSide)
  const of = <T extends NodeMessage['type']>(type: T) =>
    heard.filter((m): m is Extract<NodeMessage, { type: T }> => m.type === type)
  return { agent, head: headSide, heard, of, process: () => processes[0] as FakeProcess }
}

describe('a node agent', () => {
  it('says hello, pulls once welcomed, runs what the head leases in a slot, and reports the result', async () => {
    const { agent, head, of, process } = agentWithHead()
    await turn()
    expect(of('hello')).toEqual([{ type: 'hello', name: 'n1', slots: 1 }])
    head.send({ type: 'welcome', nodeId: 'node-1' })
    await turn()
    await agent.welcomed()
    expect(of('pull')).toEqual([{ type: 'pull', n: 2 }])
    head.send({ type: 'pool', pool: spec(1, { leaseMs: 300 }) })
    head.send({ type: 'lease', jobs: [job(1)] })
    await turn()
    expect(process().of('load')).toMatchObject([{ worker: '/w.js', nodeId: 'node-1', slot: 0 }])
    process().tell({ type: 'loaded' })
    expect(process().of('run')).toMatchObject([{ jobs: [{ jobId: 1 }] }])
    const value = encodeValue(2)
    process().tell({ type: 'results', results: [{ jobId: 1, ms: 4, ok: true, value }] })
    await turn()
    expect(of('results')).toEqual([{ type: 'results', results: [{ jobId: 1, leaseId: 1, ok: true, value }] }])
    // Heartbeats go out at a third of the shortest lease, with what each slot is doing.
    vi.advanceTimersByTime(100)
    await turn()
    expect(of('heartbeat')).toEqual([{ type: 'heartbeat', slotStates: ['idle'] }])
    const stopped = agent.stop()
    await turn()
    expect(process().of('dispose')).toHaveLength(1)
    process().tell({ type: 'disposed' })
    await stopped
    expect(process().stops).toBe(1)
  })

  it('heartbeats every leaseMs / 3 while it holds a job, and every 5 s while it holds none', async () => {
    const { head, of, process } = agentWithHead()
    head.send({ type: 'welcome', nodeId: 'node-1' })
    head.send({ type: 'pool', pool: spec(1, { leaseMs: 300 }) })
    await turn()
    // Idle: nothing to renew.
    vi.advanceTimersByTime(IDLE_HEARTBEAT_MS - 1)
    await turn()
    expect(of('heartbeat')).toHaveLength(0)
    vi.advanceTimersByTime(1)
    await turn()
    expect(of('heartbeat')).toHaveLength(1)
    // A lease brings the lease cadence back at once (its renewal is due within 300 ms).
    head.send({ type: 'lease', jobs: [job(1)] })
    await turn()
    process().tell({ type: 'loaded' })
    await turn()
    for (let i = 0; i < 3; i++) {
      vi.advanceTimersByTime(100)
      await turn()
    }
    expect(of('heartbeat')).toHaveLength(4)
    // The job done, the heartbeat after the next slows down again.
    process().tell({ type: 'results', results: [{ jobId: 1, ms: 4, ok: true, value: encodeValue(1) }] })
    await turn()
    vi.advanceTimersByTime(100)
    await turn()
    expect(of('heartbeat')).toHaveLength(5)
    vi.advanceTimersByTime(IDLE_HEARTBEAT_MS - 1)
    await turn()
    expect(of('heartbeat')).toHaveLength(5)
    vi.advanceTimersByTime(1)
    await turn()
    expect(of('heartbeat')).toHaveLength(6)
  })

  it("gives back the jobs of a pool whose worker can't load here, and tells the head so once", async () => {
    const { head, of, process } = agentWithHead()
    head.send({ type: 'welcome', nodeId: 'node-1' })
    head.send({ type: 'pool', pool: spec(1) })
    head.send({ type: 'lease', jobs: [job(1), job(2)] })
    await turn()
    process().tell({ type: 'loadFailed', error: { name: 'WorkerLoadError', message: 'no such module' } })
    await turn()
    expect(of('release')).toEqual([
      { type: 'release', jobIds: [1] },
      { type: 'release', jobIds: [2] },
    ])
    expect(of('loadFailed')).toEqual([
      { type: 'loadFailed', poolId: 1, error: { name: 'WorkerLoadError', message: 'no such module' } },
    ])
  })
})

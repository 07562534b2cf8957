import { describe, expect, it } from 'vitest'
import { pickPeers } from '../src/head/head-helpers.js'
import { PoolReach } from '../src/head/pool-reach.js'
import { nodeSession } from './head-fakes.js'

const cantLoad = { name: 'WorkerLoadError', message: "can't load the worker module w.js" }

/** Nodes that joined with these slots, and the pool reach that knows them. */
function joined(...slots: number[]) {
  const reach = new PoolReach()
  const nodes = slots.map((n, i) => {
    const node = nodeSession(`n${i}`, n)
    reach.slotsChanged(node, 0)
    return node
  })
  return { reach, nodes }
}

describe('where a pool reaches', () => {
  it('is unrunnable only once every working node said its worker cannot start there', () => {
    const { reach, nodes } = joined(1, 2, 0)
    const [a, b, down] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
    // A node that was not given the pool can't say so.
    expect(reach.cannotStart(a, 1, cantLoad)).toBe(false)
    for (const node of nodes) expect(reach.send(node, 1)).toBe(true)
    expect(reach.send(a, 1)).toBe(false)
    expect(reach.cannotStart(a, 1, cantLoad)).toBe(true)
    expect(reach.cannotStart(a, 1, cantLoad)).toBe(false)
    expect(reach.unrunnable(1)).toBeUndefined()
    // The node with no working slot does not count.
    reach.cannotStart(b, 1, cantLoad)
    expect(reach.unrunnable(1)).toEqual(cantLoad)
    // It comes back with a slot: it may run the pool.
    down.slots = 1
    reach.slotsChanged(down, 0)
    expect(reach.unrunnable(1)).toBeUndefined()
    // It leaves: nobody left can.
    reach.left(down)
    expect(reach.unrunnable(1)).toEqual(cantLoad)
  })

  it('knows the nodes each pool was sent to, and forgets them as the pool closes', () => {
    const { reach, nodes } = joined(1, 1, 1)
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
    reach.send(a, 1)
    reach.send(b, 1)
    reach.send(b, 2)
    reach.cannotStart(b, 1, cantLoad)
    expect([...reach.givenTo(1)]).toEqual([a, b])
    expect(reach.close(1)).toEqual([a, b])
    expect([...reach.givenTo(1)]).toEqual([])
    expect([...b.poolsSent]).toEqual([2])
    expect(b.unloadable.size).toBe(0)
    expect(reach.anyWorking).toBe(true)
  })
})

describe('peers offered to a node', () => {
  it('are a few distinct listening nodes, never the node itself', () => {
    const listening = Array.from({ length: 50 }, (_, i) => ({ id: `p${i}`, addrs: [`/ip4/10.0.0.${i}/tcp/1`] }))
    const self = listening[7] as (typeof listening)[0]
    for (let round = 0; round < 20; round++) {
      const peers = pickPeers(listening, 8, self, true)
      expect(peers).toHaveLength(8)
      expect(new Set(peers.map((p) => p.peerId)).size).toBe(8)
      expect(peers.some((p) => p.peerId === self.id)).toBe(false)
    }
    expect(
      pickPeers(listening.slice(0, 3), 8, self, false)
        .map((p) => p.peerId)
        .sort(),
    ).toEqual(['p0', 'p1', 'p2'])
    expect(pickPeers([self], 8, self, true)).toEqual([])
  })
})

import type { HeadToNodeMessage, NodeMessage } from '@meshpool/core'
import { describe, expect, it } from 'vitest'
import { channelPair } from '../src/net/memory-channel.js'
import { HeadLink } from '../src/node/head-link.js'

const turn = () => new Promise((resolve) => setImmediate(resolve))

/** A welcomed link, and the pulls the head heard on it. */
async function welcomedLink() {
  const [nodeEnd, headEnd] = channelPair<HeadToNodeMessage, NodeMessage>()
  const pulls: number[] = []
  headEnd.start({ message: (m) => (m.type === 'pull' ? pulls.push(m.n) : undefined), close: () => {} })
  const link = new HeadLink({
    hello: () => ({ type: 'hello', name: 'n', slots: 1 }) as never,
    onMessage: () => {},
    shortestLeaseMs: () => Number.POSITIVE_INFINITY,
    holding: () => false,
    slotStates: () => [],
  })
  void link.connect(nodeEnd)
  headEnd.send({ type: 'welcome', nodeId: 'node-1' })
  await link.welcomed()
  return { link, pulls }
}

describe("a node's link to its head", () => {
  it('asks for more jobs once it lacks the amount it names, not for each job that ends', async () => {
    const { link, pulls } = await welcomedLink()
    link.pull(256)
    link.leased(256)
    // Jobs end one by one while 250 are still held: a pull each would be a frame per job or two.
    for (let wanted = 1; wanted < 128; wanted++) link.pull(wanted, 128)
    await turn()
    expect(pulls).toEqual([256])
    link.pull(128, 128)
    await turn()
    expect(pulls).toEqual([256, 128])
    // Asked for and not yet leased counts: the same want again asks for nothing.
    link.pull(128, 1)
    await turn()
    expect(pulls).toEqual([256, 128])
  })
})

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type ClientMessage,
  encodeValue,
  type HeadToClientMessage,
  type HeadToNodeMessage,
  type NodeMessage,
  type UpdateEntry,
} from '@meshpool/core'
import { afterEach, describe, expect, it } from 'vitest'
import { waitFor } from '../../../test/wait-for.js'
import { PoolClient } from '../dist/client/pool-client.js'
import { HeadService } from '../dist/head/head-service.js'
import { DIRECT_UPDATE_BYTES } from '../dist/head/update-fanout.js'
import { channelPair } from '../dist/net/memory-channel.js'
// Built code (pnpm test builds first): the agent forks dist/slot/main.js.
import { NodeAgent } from '../dist/node/agent.js'
import { IDLE_HEARTBEAT_MS } from '../dist/node/head-link.js'

const WORKER = new URL('./fixtures/worker.js', import.meta.url).pathname
const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

describe('a node cut off from gossip', () => {
  it('catches up by itself: its idle slot applies the updates it missed, with no job to ask for them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshpool-gossip-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const updateLog = join(dir, 'updates.log')
    writeFileSync(updateLog, '')
    // The head publishes each update on "gossip": here a function the test can cut.
    let cut = false
    const agent = new NodeAgent({ slots: 1, name: 'remote' })
    const head = new HeadService({
      publish: (entry: UpdateEntry) => {
        if (!cut) agent.onUpdates([entry])
      },
    })
    head.start()
    cleanups.push(() => head.close())
    const [agentSide, headSide] = channelPair<HeadToNodeMessage, NodeMessage>()
    head.attachNode('remote', headSide) // not local: updates come only by gossip, or by catching up
    agent.start()
    cleanups.push(() => agent.stop())
    void agent.connect(agentSide)
    await agent.welcomed()
    const client = new PoolClient({
      worker: WORKER,
      init: encodeValue({ updateLog }),
      settings: { leaseMs: 600 }, // heartbeats every 200 ms while it holds a job, 5 s while idle
    })
    const [clientSide, headClientSide] = channelPair<HeadToClientMessage, ClientMessage>()
    head.attachClient(headClientSide)
    await client.open(clientSide)
    cleanups.push(() => client.close())
    await client.submit(encodeValue({ x: 1 })).result // the node now holds the pool's worker, idle
    const applied = () =>
      readFileSync(updateLog, 'utf8')
        .split('\n')
        .slice(0, -1) // whole lines only: a big one may be half written
        .map((l) => JSON.parse(l).i)
    // Updates this big go on gossip (a small one would go on the node's link to the head).
    const pad = 'x'.repeat(DIRECT_UPDATE_BYTES)
    await client.update(encodeValue({ i: 1, pad }))
    await waitFor(() => applied().length === 1, 3000, 'the first update by gossip')
    cut = true
    for (let i = 2; i <= 6; i++) await client.update(encodeValue({ i, pad }))
    // No gossip, no job: the head's answer to a heartbeat (every 5 s from an idle node) names the pool's latest update.
    await waitFor(() => applied().length === 6, IDLE_HEARTBEAT_MS + 3000, 'the missed updates')
    expect(applied()).toEqual([1, 2, 3, 4, 5, 6])
  }, 20_000)
})

import { createHash } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { type JoinedNode, joinNode, startHead, stopAll } from './harness.js'
import { quietPool } from './quiet-pool.js'

afterEach(stopAll)

/** Lines a node logs with DEBUG=meshpool:gossip* (which peer each update came through) or meshpool:blobs* (each node's lines are named meshpool:<topic>:<node name>). */
const lines = (node: JoinedNode, pattern: RegExp): string[] =>
  node
    .output()
    .split('\n')
    .filter((line) => pattern.test(line))

describe('a real mesh', () => {
  it('a small update reaches every node straight from the head, on its link', async () => {
    const head = await startHead({ noWork: true })
    const nodes = await Promise.all(
      Array.from({ length: 6 }, () => joinNode(head.address, 1, { DEBUG: 'meshpool:gossip*' })),
    )
    const { pool, appliedBy } = await quietPool(head.address, nodes.length)
    await using _ = pool
    await pool.updateWorkers({ i: 1 })
    expect(await appliedBy(nodes.length)).toBe(nodes.length)
    // Not one copy came on gossip: each node received the one the head sent it.
    for (const node of nodes) expect(lines(node, /meshpool:gossip:\S+ update \S+ from /)).toEqual([])
  })

  it('a bigger update reaches nodes through other nodes: the head sends it to a few peers, not to all', async () => {
    const head = await startHead({ noWork: true })
    const nodes = await Promise.all(
      Array.from({ length: 14 }, () => joinNode(head.address, 1, { DEBUG: 'meshpool:gossip*' })),
    )
    const { pool, appliedBy } = await quietPool(head.address, nodes.length)
    await using _ = pool
    // 14 copies of 320 KiB would pass the head's budget for sending an update on every link (4 MiB).
    await pool.updateWorkers({ i: 1, pad: new Uint8Array(320 * 1024) })
    expect(await appliedBy(nodes.length)).toBe(nodes.length)
    // Each node logs every copy that reaches it (the first one is applied, later ones are dropped by gossipsub).
    const first = nodes.map((node) => lines(node, /meshpool:gossip:\S+ update \S+ from /)[0] ?? '')
    const viaNodes = first.filter((line) => /from node /.test(line)).length
    const viaHead = first.filter((line) => /from the head/.test(line)).length
    expect(viaNodes + viaHead).toBe(nodes.length)
    // Gossipsub keeps at most 12 peers in the head's mesh, and the head tells no other node it has the
    // update (no IHAVE; a CI run without this had all 14 nodes fetch it from the head): the others hear it from nodes.
    expect(viaNodes).toBeGreaterThan(0)
    expect(viaHead).toBeLessThanOrEqual(12)
  })

  it('a 20 MiB update travels as a blob: the head sends it a few times, the other nodes fetch it from nodes', async () => {
    const head = await startHead({ noWork: true })
    const nodes = await Promise.all(
      Array.from({ length: 7 }, () => joinNode(head.address, 1, { DEBUG: 'meshpool:blobs*' })),
    )
    const { pool, appliedBy } = await quietPool(head.address, nodes.length)
    await using _ = pool
    const big = new Uint8Array(20 * 1024 * 1024)
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) % 251
    await pool.updateWorkers({ i: 1, big })
    expect(await appliedBy(nodes.length)).toBe(nodes.length)
    const fetched = nodes.map((node) => lines(node, /fetched blob/))
    for (const [i, found] of fetched.entries()) expect(found, nodes[i]?.output()).toHaveLength(1)
    const fromHead = fetched.filter(([line]) => /from the head/.test(line ?? '')).length
    // The head serves three at once (BLOB_SENDS_PER_SOURCE); the rest wait for a node that has it.
    expect(fromHead).toBeLessThanOrEqual(3)
    expect(nodes.length - fromHead).toBeGreaterThanOrEqual(4)
    // And what every slot applied is the update itself, byte for byte.
    const digest = createHash('sha256').update(big).digest('hex')
    const results = (await pool.map(
      Array.from({ length: 7 }, (_, x) => ({ x, delayMs: 300, digestUpdates: true })),
    )) as Array<{ node: string; updates: string[] }>
    for (const r of results) expect(r.updates.at(-1)).toBe(digest)
  })
})

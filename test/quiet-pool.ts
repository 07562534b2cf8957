import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createPool } from 'meshpool'
import { expect } from 'vitest'
import { PASSWORD, tempDir, WORKER } from './harness.js'

/**
 * A pool whose slots log each handleUpdate to a file, warmed on `nodes` nodes,
 * with heartbeats every 20 s: within a few seconds only the update's own
 * delivery (on the head link, on gossip, or its announcement of a big one)
 * can bring it to an idle slot.
 */
export async function quietPool(address: string, nodes: number) {
  const updateLog = join(tempDir(), 'updates.log')
  writeFileSync(updateLog, '')
  const pool = await createPool({
    worker: WORKER,
    init: { updateLog },
    head: address,
    password: PASSWORD,
    leaseMs: 60_000,
    output: 'ignore',
  })
  const ran = (await pool.map(Array.from({ length: nodes * 6 }, (_, x) => ({ x, delayMs: 100 })))) as Array<{
    node: string
  }>
  expect(new Set(ran.map((r) => r.node)).size).toBe(nodes)
  /** Slots that have applied an update, once `count` have or 5 s have passed. */
  const appliedBy = async (count: number): Promise<number> => {
    const applied = () => new Set(readFileSync(updateLog, 'utf8').split('\n').filter(Boolean)).size
    const deadline = Date.now() + 5000
    while (applied() < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    return applied()
  }
  return { pool, appliedBy }
}

import { createPool } from 'meshpool'
import { describe, expect, it } from 'vitest'
import { WORKER } from './harness.js'

describe('createPool with no head', () => {
  it('starts an embedded head with local slots: no password needed', async () => {
    await using pool = await createPool({ worker: WORKER, slots: 2 })
    expect(await pool.workersCount()).toBe(2)
    expect(await pool.nodesCount()).toBe(1)
    const results = (await pool.map(Array.from({ length: 100 }, (_, x) => ({ x })))) as Array<{ y: number }>
    expect(results.map((r) => r.y)).toEqual(Array.from({ length: 100 }, (_, x) => 2 * x))
    expect(await pool.submit({ x: 21 })).toMatchObject({ y: 42 })
  })
})

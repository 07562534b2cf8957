import { createPool, type Progress } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { joinNode, PASSWORD, startHead, stopAll } from './harness.js'

afterEach(stopAll)

const CHATTY = new URL('./fixtures/chatty-worker.js', import.meta.url)

/** Fractions each input's job reported, in the order seen. */
function fractionsByJob(seen: Progress[]): Map<number, number[]> {
  const by = new Map<number, number[]>()
  for (const p of seen) for (const [index, f] of p.jobs) by.set(index, [...(by.get(index) ?? []), f])
  return by
}

describe('progress', () => {
  it('map reports done, running, queued and each job’s ctx.progress, ending with everything done', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 1)
    await using pool = await createPool({ worker: CHATTY, head: head.address, password: PASSWORD, output: 'ignore' })
    const seen: Progress[] = []
    const inputs = Array.from({ length: 10 }, (_, x) => ({ x, steps: 4, stepMs: 30 }))
    const results = await pool.map(inputs, { onProgress: (p) => seen.push(p) })
    expect(results).toEqual(Array.from({ length: 10 }, (_, x) => x))
    expect(seen.at(-1)).toMatchObject({ total: 10, done: 10, failed: 0, running: 0, queued: 0 })
    expect(seen.some((p) => p.running > 0 && p.queued > 0)).toBe(true)
    const fractions = fractionsByJob(seen)
    const between = [...fractions.values()].flat().filter((f) => f > 0 && f < 1)
    expect(between.length).toBeGreaterThan(0)
    for (const list of fractions.values()) expect(list).toEqual([...list].sort((a, b) => a - b))
    for (let i = 1; i < seen.length; i++) {
      expect((seen[i] as Progress).done).toBeGreaterThanOrEqual((seen[i - 1] as Progress).done)
    }
  })

  it('imapUnordered over a generator learns the total once the inputs run out; an embedded pool reports too', async () => {
    await using pool = await createPool({ worker: CHATTY, slots: 1, output: 'ignore' })
    // Each job reports 0.5 and holds it for 200 ms, longer than onProgress's 100 ms throttle, so a report catches it.
    function* inputs() {
      for (let x = 0; x < 3; x++) yield { x, steps: 2, stepMs: 200 }
    }
    const seen: Progress[] = []
    const got: number[] = []
    for await (const r of pool.imapUnordered(inputs(), { onProgress: (p) => seen.push(p) })) got.push(r as number)
    expect(got.sort()).toEqual([0, 1, 2])
    expect(seen[0]?.total).toBeUndefined()
    expect(seen.at(-1)).toMatchObject({ total: 3, done: 3, running: 0, queued: 0 })
    expect([...fractionsByJob(seen).values()].flat()).toContain(0.5)
  })

  it('a worker that reports a fraction outside 0..1 gets a RangeError; a bad onProgress is refused', async () => {
    await using pool = await createPool({ worker: CHATTY, slots: 1, output: 'ignore' })
    await expect(pool.submit({ x: 1, badProgress: 5 })).rejects.toMatchObject({
      name: 'RemoteJobError',
      remoteName: 'RangeError',
      message: expect.stringMatching(/ctx\.progress takes a fraction from 0 to 1, got 5/),
    })
    await expect(pool.map([{ x: 1 }], { onProgress: 5 as never })).rejects.toMatchObject({
      name: 'InvalidOptionError',
      message: expect.stringMatching(/options\.onProgress must be a function/),
    })
  })
})

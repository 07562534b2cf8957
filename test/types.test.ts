// Types flow from the worker class: `createPool<typeof Trainer>` checks init, params,
// results and updates. This file is compiled by `pnpm lint` (tsc -b, which CI runs):
// every `@ts-expect-error` below must really be an error, or the build fails.
import { createPool, type JobContext, type Pool, type WorkerContext } from 'meshpool'
import { describe, expect, expectTypeOf, it } from 'vitest'

interface Init {
  dataset: string
  epochs: number
}
interface Params {
  lr: number
  layers: number[]
}

class Trainer {
  readonly init: Init
  best = Number.POSITIVE_INFINITY
  constructor(init: Init, _ctx: WorkerContext) {
    this.init = init
  }
  async run(params: Params, _ctx: JobContext): Promise<{ loss: number; epochs: number }> {
    return { loss: params.lr * params.layers.length, epochs: this.init.epochs }
  }
  handleUpdate(update: { best: number }): void {
    this.best = Math.min(this.best, update.best)
  }
}

async function wellTyped(pool: Pool<typeof Trainer>): Promise<void> {
  expectTypeOf(pool.submit).parameter(0).toEqualTypeOf<Params>()
  expectTypeOf(await pool.submit({ lr: 0.1, layers: [64] })).toEqualTypeOf<{ loss: number; epochs: number }>()
  expectTypeOf(await pool.map([{ lr: 0.1, layers: [] }])).toEqualTypeOf<Array<{ loss: number; epochs: number }>>()
  for await (const r of pool.imapUnordered([{ lr: 1, layers: [1] }])) expectTypeOf(r.loss).toBeNumber()
  await pool.updateWorkers({ best: 0.5 })
}

async function badParams(pool: Pool<typeof Trainer>): Promise<void> {
  // @ts-expect-error lr must be a number
  await pool.submit({ lr: '0.1', layers: [] })
  // @ts-expect-error layers is missing
  await pool.map([{ lr: 1 }])
  // @ts-expect-error an unknown field
  await pool.submit({ lr: 1, layers: [], momentum: 0.9 })
  // @ts-expect-error the result has no accuracy
  ;(await pool.submit({ lr: 1, layers: [] })).accuracy
  // @ts-expect-error updates take Trainer's shape
  await pool.updateWorkers({ worst: 1 })
}

async function badInit(): Promise<void> {
  // @ts-expect-error init must match the constructor
  await createPool<typeof Trainer>({ worker: './trainer.js', init: { dataset: 1, epochs: 2 } })
  await createPool<typeof Trainer>({ worker: './trainer.js', init: { dataset: 'mnist', epochs: 2 } })
}

describe('types', () => {
  it('are checked when the tests compile (pnpm lint runs tsc -b over them)', () => {
    expect([wellTyped, badParams, badInit].every((f) => typeof f === 'function')).toBe(true)
  })
})

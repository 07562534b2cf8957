// Types flow from the worker class: `createPool<typeof Trainer>` checks init, params,
// results and updates. This file is compiled by `pnpm lint` (tsc -b, which CI runs):
// every `@ts-expect-error` below must really be an error, or the build fails.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  createPool,
  type JobContext,
  type Pool,
  type Settled,
  type SharedRef,
  type WithShared,
  type WorkerContext,
} from 'meshpool'
import ts from 'typescript'
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
  expectTypeOf(pool.submit).parameter(0).toEqualTypeOf<WithShared<Params>>()
  expectTypeOf(await pool.submit({ lr: 0.1, layers: [64] })).toEqualTypeOf<{ loss: number; epochs: number }>()
  expectTypeOf(await pool.map([{ lr: 0.1, layers: [] }])).toEqualTypeOf<Array<{ loss: number; epochs: number }>>()
  for await (const r of pool.imapUnordered([{ lr: 1, layers: [1] }])) expectTypeOf(r.loss).toBeNumber()
  await pool.updateWorkers({ best: 0.5 })
}

type Loss = { loss: number; epochs: number }

async function settled(pool: Pool<typeof Trainer>): Promise<void> {
  const all = await pool.map([{ lr: 0.1, layers: [] }], { settle: true })
  expectTypeOf(all).toEqualTypeOf<Array<Settled<Loss>>>()
  for await (const outcome of pool.imapUnordered([{ lr: 1, layers: [1] }], { settle: true })) {
    expectTypeOf(outcome.index).toBeNumber()
    if (outcome.ok) expectTypeOf(outcome.value).toEqualTypeOf<Loss>()
    else expectTypeOf(outcome.error).toEqualTypeOf<Error>()
    // @ts-expect-error the value is there only once ok is checked
    outcome.value
  }
  expectTypeOf(await pool.map([{ lr: 0.1, layers: [] }], { settle: false })).toEqualTypeOf<Loss[]>()
  // @ts-expect-error a misspelt option
  await pool.map([{ lr: 0.1, layers: [] }], { timeout: 5 })
}

async function sharedParams(pool: Pool<typeof Trainer>, layers: SharedRef<number[]>): Promise<void> {
  // A handle from pool.share() stands for a value of its type anywhere in the params.
  await pool.submit({ lr: 0.1, layers })
  await pool.map([
    { lr: 0.1, layers },
    { lr: 0.2, layers: [1] },
  ])
  const whole = await pool.share<Params>({ lr: 0.3, layers: [2] })
  await pool.submit(whole)
  // @ts-expect-error a handle to a string is no number[]
  await pool.submit({ lr: 0.1, layers: await pool.share('x') })
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

class NoInit {
  run(x: number): number {
    return x
  }
}
class OptionalInit {
  constructor(readonly init?: { seed: number }) {}
  run(x: number): number {
    return x + (this.init?.seed ?? 0)
  }
}

async function badInit(): Promise<void> {
  // @ts-expect-error init must match the constructor
  await createPool<typeof Trainer>({ worker: './trainer.js', init: { dataset: 1, epochs: 2 } })
  await createPool<typeof Trainer>({ worker: './trainer.js', init: { dataset: 'mnist', epochs: 2 } })
  // @ts-expect-error Trainer's constructor requires init
  await createPool<typeof Trainer>({ worker: './trainer.js' })
  // Without a constructor, or with an optional init, init may be left out.
  await createPool<typeof NoInit>({ worker: './no-init.js' })
  await createPool<typeof OptionalInit>({ worker: './optional.js' })
  await createPool<typeof OptionalInit>({ worker: './optional.js', init: { seed: 1 } })
  // @ts-expect-error a misspelt option
  await createPool<typeof NoInit>({ worker: './no-init.js', maxAttempt: 5 })
}

/** The errors tsc gives for `body`, compiled in this folder against meshpool's built types. */
function compileErrors(body: string): string[] {
  const here = dirname(fileURLToPath(import.meta.url))
  const file = join(here, '__types_probe__.ts')
  const source = `import { createPool, type Pool } from 'meshpool'
interface Params { lr: number; layers: number[] }
class Trainer {
  constructor(readonly init: { dataset: string }) {}
  run(params: Params): number { return params.lr }
}
export async function probe(pool: Pool<typeof Trainer>): Promise<void> {
${body}
}
`
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2023,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: ['node'],
  }
  const host = ts.createCompilerHost(options)
  const { getSourceFile, fileExists, readFile } = host
  host.getSourceFile = (name, version, ...rest) =>
    name === file ? ts.createSourceFile(name, source, version) : getSourceFile(name, version, ...rest)
  host.fileExists = (name) => name === file || fileExists(name)
  host.readFile = (name) => (name === file ? source : readFile(name))
  const program = ts.createProgram([file], options, host)
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === file)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
}

describe('types', () => {
  it('are checked when the tests compile (pnpm lint runs tsc -b over them)', () => {
    expect([wellTyped, settled, sharedParams, badParams, badInit].every((f) => typeof f === 'function')).toBe(true)
  })

  it('say which param field is missing, in one line, for map, imapUnordered and submit', { timeout: 60_000 }, () => {
    const errors = compileErrors(`
  await pool.map([{ lr: 1 }])
  for await (const _ of pool.imapUnordered([{ lr: 1 }])) {}
  await pool.submit({ lr: 1 })`)
    expect(errors).toHaveLength(3)
    for (const error of errors) {
      // Params may hold handles from pool.share() anywhere: Shareable<Params> is Params with that allowed.
      expect(error).toMatch(
        /Property 'layers' is missing in type '\{ lr: number; \}' but required in type 'Shareable<Params>'/,
      )
      // Not the 7 lines through Inputs<Params>, Iterable and IteratorResult.
      expect(error.split('\n').length, error).toBeLessThanOrEqual(2)
      expect(error).not.toMatch(/IteratorResult/)
    }
  })

  it('say init is missing when the constructor requires it', { timeout: 60_000 }, () => {
    const [error, ...more] = compileErrors("  await createPool<typeof Trainer>({ worker: './trainer.js' })")
    expect(more).toEqual([])
    expect(error).toMatch(/Property 'init' is missing/)
  })
})

import { createPool } from '@meshpool/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const WORKER = new URL('./fixtures/worker.js', import.meta.url)
type Pool = Awaited<ReturnType<typeof createPool>>

describe('an embedded pool', () => {
  let pool: Pool
  beforeAll(async () => {
    pool = await createPool({ worker: WORKER, slots: 2 })
  })
  afterAll(() => pool.close())

  it('starts an embedded head with its local slots, no password needed: 2 workers on 1 node', async () => {
    expect(await pool.workersCount()).toBe(2)
    expect(await pool.nodesCount()).toBe(1)
    const inputs = Array.from({ length: 100 }, (_, x) => ({ x }))
    expect(await pool.map(inputs)).toEqual(inputs.map(({ x }) => 2 * x))
  })

  it('keeps the remote name, message and stack when run() throws', async () => {
    const err = await pool.submit({ kind: 'throw', x: 7 }).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'RemoteJobError', remoteName: 'TypeError' })
    expect((err as Error).message).toMatch(/TypeError: bad params 7/)
    expect((err as Error).stack).toMatch(/fixtures\/worker\.js/)
  })

  it('refuses params that cannot be sent at the call, naming where', async () => {
    await expect(pool.submit({ x: 1, nested: [0, { cb: () => 1 }] })).rejects.toMatchObject({
      name: 'UnsendableValueError',
      message: expect.stringMatching(/params\.nested\[1\]\.cb is a function/),
    })
    await expect(pool.map([{ x: 1 }, { x: Symbol('s') }])).rejects.toMatchObject({ name: 'UnsendableValueError' })
  })

  it('fails a job whose result cannot be sent, and the pool carries on', async () => {
    await expect(pool.submit({ kind: 'function' })).rejects.toMatchObject({
      name: 'UnsendableValueError',
      message: expect.stringMatching(/result of run\(\)\.f is a function/),
    })
    expect(await pool.submit({ x: 4 })).toBe(8)
  })

  it('round-trips every value type', async () => {
    const value = {
      n: 1.5,
      big: 2n ** 80n,
      when: new Date(1_700_000_000_000),
      map: new Map<unknown, unknown>([['k', new Set([1, 2])]]),
      bytes: new Uint8Array([1, 2, 3]),
      floats: new Float32Array([0.5]),
      list: [null, true, 'é'],
    }
    expect(await pool.submit({ kind: 'echo', value })).toEqual(value)
  })

  it('yields results while a slow async input is still waiting for its next item', async () => {
    let release: (() => void) | undefined
    async function* input() {
      yield { x: 1 }
      // The next input only comes once the caller has the first result.
      await new Promise<void>((resolve) => {
        release = resolve
      })
      yield { x: 2 }
    }
    const seen: unknown[] = []
    for await (const r of pool.imapUnordered(input())) {
      seen.push(r)
      release?.()
    }
    expect(seen).toEqual([2, 4])
  })

  it('an abort rejects at once even while the input is stuck', async () => {
    async function* stuck() {
      yield { x: 1 }
      await new Promise(() => {})
    }
    const controller = new AbortController()
    const run = (async () => {
      for await (const _ of pool.imapUnordered(stuck(), { signal: controller.signal })) controller.abort()
    })()
    await expect(run).rejects.toMatchObject({ name: 'AbortError' })
  })

  it('gives run() its context', async () => {
    expect(await pool.submit({ kind: 'ctx' })).toMatchObject({ attempt: 1, aborted: false, ready: true })
  })

  it('applies updates between jobs, and a job submitted after updateWorkers sees it', async () => {
    for (let i = 1; i <= 5; i++) {
      await pool.updateWorkers({ i })
      const seen = (await pool.map([{ kind: 'updates' }, { kind: 'updates' }, { kind: 'updates' }])) as unknown[][]
      for (const updates of seen) expect(updates.at(-1)).toEqual({ i })
    }
  })

  it('rejects bad options with the field and the fix', async () => {
    await expect(createPool({ worker: '/nope/worker.js' })).rejects.toMatchObject({
      name: 'InvalidOptionError',
      message: expect.stringMatching(/no file at \/nope\/worker\.js/),
    })
    await expect(createPool({ worker: WORKER, window: 0 })).rejects.toThrow(
      /options\.window must be a positive integer/,
    )
    await expect(createPool({ worker: WORKER, head: '/ip4/127.0.0.1/tcp/1' })).rejects.toThrow(/no \/p2p\//)
    await expect(
      createPool({
        worker: WORKER,
        head: '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN',
        password: '',
      }),
    ).rejects.toThrow(/a remote head needs the pool's secret: pass \{ token \}/)
    await expect(createPool({ worker: WORKER, init: { f: () => 1 } })).rejects.toThrow(/options\.init\.f is a function/)
  })
})

describe('worker failures', () => {
  it('fails jobs with a clear WorkerLoadError when the module has no default class', async () => {
    await using pool = await createPool({ worker: new URL('./fixtures/no-default.js', import.meta.url), slots: 1 })
    await expect(pool.submit({ x: 1 })).rejects.toMatchObject({
      name: 'WorkerLoadError',
      message: expect.stringMatching(/no default export class/),
    })
  })

  it('fails jobs with the constructor error when init is refused', async () => {
    await using pool = await createPool({ worker: WORKER, init: { failConstruct: true }, slots: 1 })
    await expect(pool.submit({ x: 1 })).rejects.toMatchObject({
      name: 'WorkerLoadError',
      message: expect.stringMatching(/constructor refused: bad init/),
    })
  })

  it('restarts a slot that exits, retries its job elsewhere, and fails it with WorkerLostError after maxAttempts', async () => {
    await using pool = await createPool({ worker: WORKER, slots: 2, maxAttempts: 2 })
    const lost = pool.submit({ kind: 'exit' }).catch((e: unknown) => e)
    const fine = pool.map(Array.from({ length: 20 }, (_, x) => ({ x, delayMs: 5 })))
    expect(await lost).toMatchObject({ name: 'WorkerLostError', message: expect.stringMatching(/lost 2 times/) })
    expect(await fine).toEqual(Array.from({ length: 20 }, (_, x) => 2 * x))
    expect(await pool.submit({ x: 5 })).toBe(10)
  })

  it('rejects open calls with PoolClosedError when the pool closes', async () => {
    const pool = await createPool({ worker: WORKER, slots: 1 })
    const pending = pool.submit({ x: 1, delayMs: 2000 }).catch((e: unknown) => e)
    await pool.close()
    expect(await pending).toMatchObject({ name: 'PoolClosedError' })
  })
})

describe('maxJobsPerSlot', () => {
  it('replaces a slot process after that many jobs, and every job still runs once', async () => {
    await using pool = await createPool({ worker: WORKER, slots: 1, maxJobsPerSlot: 5 })
    const results = (await pool.map(Array.from({ length: 12 }, (_, x) => ({ x, kind: 'pid' })))) as Array<{
      x: number
      pid: number
    }>
    expect(results.map((r) => r.x)).toEqual(Array.from({ length: 12 }, (_, x) => x))
    // In input order (one slot): the pid changes after every 5 jobs.
    const pids = results.map((r) => r.pid)
    expect(new Set(pids.slice(0, 5)).size).toBe(1)
    expect(new Set(pids.slice(5, 10)).size).toBe(1)
    expect(new Set(pids.slice(10)).size).toBe(1)
    expect(new Set(pids).size).toBe(3)
  })

  it('replaces the slot even when the worker never finishes dispose()', { timeout: 30_000 }, async () => {
    await using pool = await createPool({ worker: WORKER, init: { hangDispose: true }, slots: 1, maxJobsPerSlot: 1 })
    const results = (await pool.map([0, 1].map((x) => ({ x, kind: 'pid' })))) as Array<{ pid: number }>
    expect(new Set(results.map((r) => r.pid)).size).toBe(2)
    expect(await pool.workersCount()).toBe(1) // not counted as a crash: the slot is not broken
  })

  it('must be a positive integer', async () => {
    await expect(createPool({ worker: WORKER, maxJobsPerSlot: 0 })).rejects.toThrow(
      /options\.maxJobsPerSlot must be a positive integer, got 0/,
    )
  })
})

describe('unknown option keys', () => {
  let pool: Pool
  beforeAll(async () => {
    pool = await createPool({ worker: WORKER, slots: 1 })
  })
  afterAll(() => pool.close())

  // Casts stand for JavaScript callers: TypeScript would refuse these keys already.
  const loose = <T>(options: object): T => options as T

  it('createPool refuses a misspelt option and says which was meant', async () => {
    await expect(createPool(loose({ worker: WORKER, maxAttempt: 5 }))).rejects.toMatchObject({
      name: 'InvalidOptionError',
      message: expect.stringMatching(/^createPool has no option "maxAttempt": did you mean `maxAttempts`\?/),
    })
    await expect(createPool(loose({ worker: WORKER, timeout: 5 }))).rejects.toThrow(
      /createPool has no option "timeout": did you mean `timeoutMs`\?/,
    )
  })

  it('map, imapUnordered and submit refuse one too, before any job runs', async () => {
    await expect(pool.map([{ x: 1 }], loose({ timeout: 1 }))).rejects.toThrow(
      /^map has no option "timeout": did you mean `timeoutMs`\?/,
    )
    await expect(pool.submit({ x: 1 }, loose({ signl: new AbortController().signal }))).rejects.toThrow(
      /^submit has no option "signl": did you mean `signal`\?/,
    )
    const loop = async (): Promise<void> => {
      for await (const _ of pool.imapUnordered([{ x: 1 }], loose({ onprogress: () => {} }))) {
      }
    }
    await expect(loop()).rejects.toThrow(/^imapUnordered has no option "onprogress": did you mean `onProgress`\?/)
    await expect(pool.map([{ x: 1 }], loose({ settled: true }))).rejects.toThrow(/did you mean `settle`\?/)
    // submit has no onProgress: it is named as not an option of submit.
    await expect(pool.submit({ x: 1 }, loose({ onProgress: () => {} }))).rejects.toThrow(
      /submit has no option "onProgress"/,
    )
  })

  it('launchWorkers refuses one too', async () => {
    await expect(pool.launchWorkers(loose({ n: 1, gpu: '0' }))).rejects.toThrow(
      /^launchWorkers has no option "gpu": did you mean `gpus`\?/,
    )
  })
})

describe('settled calls ({ settle: true })', () => {
  let pool: Pool
  beforeAll(async () => {
    pool = await createPool({ worker: WORKER, slots: 2, maxAttempts: 1 })
  })
  afterAll(() => pool.close())

  const inputs = [{ x: 1 }, { kind: 'throw', x: 2 }, { x: 3 }, { kind: 'exit' }, { x: 5 }]

  it('map resolves with every outcome in input order when jobs fail', async () => {
    const outcomes = await pool.map(inputs, { settle: true })
    expect(outcomes).toHaveLength(5)
    expect(outcomes[0]).toEqual({ ok: true, value: 2, index: 0 })
    expect(outcomes[1]).toMatchObject({
      ok: false,
      index: 1,
      error: { name: 'RemoteJobError', remoteName: 'TypeError' },
    })
    expect(outcomes[2]).toEqual({ ok: true, value: 6, index: 2 })
    expect(outcomes[3]).toMatchObject({ ok: false, index: 3, error: { name: 'WorkerLostError' } })
    expect(outcomes[4]).toEqual({ ok: true, value: 10, index: 4 })
    // Without settle the same call rejects with the first failure.
    await expect(pool.map(inputs)).rejects.toMatchObject({
      name: expect.stringMatching(/RemoteJobError|WorkerLostError/),
    })
  })

  it('imapUnordered yields every outcome, and the loop carries on past a failure', async () => {
    const seen = []
    for await (const outcome of pool.imapUnordered(inputs, { settle: true })) seen.push(outcome)
    seen.sort((a, b) => a.index - b.index)
    expect(seen.map((o) => o.ok)).toEqual([true, false, true, false, true])
    expect(seen.map((o) => (o.ok ? o.value : o.error.name))).toEqual([2, 'RemoteJobError', 6, 'WorkerLostError', 10])
  })

  it('still rejects for the call itself: an abort, or the pool closing', async () => {
    const controller = new AbortController()
    const aborted = pool.map([{ x: 1, delayMs: 5000 }], { settle: true, signal: controller.signal })
    controller.abort()
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' })

    const closing = await createPool({ worker: WORKER, slots: 1 })
    const open = closing
      .map(
        [
          { x: 1, delayMs: 5000 },
          { x: 2, delayMs: 5000 },
        ],
        { settle: true },
      )
      .catch((e) => e)
    await closing.close()
    expect(await open).toMatchObject({ name: 'PoolClosedError' })
  })

  it('refuses a settle that is not a boolean', async () => {
    await expect(pool.map([{ x: 1 }], { settle: 'yes' as unknown as true })).rejects.toThrow(
      /options\.settle must be true or false, got "yes"/,
    )
  })
})

describe('a call after close()', () => {
  it('says the pool is closed, not that it closed during the call', async () => {
    const pool = await createPool({ worker: WORKER, slots: 1 })
    await pool.close()
    const closed = {
      name: 'PoolClosedError',
      message: expect.stringMatching(/^the pool is closed: this call came after pool\.close\(\)/),
    }
    await expect(pool.map([{ x: 1 }])).rejects.toMatchObject(closed)
    await expect(pool.submit({ x: 1 })).rejects.toMatchObject(closed)
    await expect(pool.updateWorkers({ i: 1 })).rejects.toMatchObject(closed)
    await expect(pool.workersCount()).rejects.toMatchObject(closed)
    await expect(pool.listWorkers()).rejects.toMatchObject(closed)
    const loop = async (): Promise<void> => {
      for await (const _ of pool.imapUnordered([{ x: 1 }])) {
      }
    }
    await expect(loop()).rejects.toMatchObject(closed)
  })
})

import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { freePort, joinNode, type Out, PASSWORD, startHead, stopAll, tempDir, WORKER, waitFor } from './harness.js'

afterEach(stopAll)

const jobs = (n: number, delayMs: number) => Array.from({ length: n }, (_, x) => ({ x, delayMs }))
const xsOf = (results: Out[]) => results.map((r) => r.x).sort((p, q) => p - q)
const range = (n: number) => Array.from({ length: n }, (_, x) => x)

/** A file for the test worker's `startLog`: each job appends a line to it as it starts. */
function emptyLog(): string {
  const file = join(tempDir(), 'starts.log')
  writeFileSync(file, '')
  return file
}
const startsIn = (startLog: string) => readFileSync(startLog, 'utf8').split('\n').filter(Boolean).length

describe('a node that dies or freezes', () => {
  it('SIGKILL: its jobs start elsewhere within a second, and all 200 results arrive once', async () => {
    const head = await startHead({ noWork: true })
    const [a, b] = await Promise.all([joinNode(head.address, 1), joinNode(head.address, 1)])
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
    const results: Out[] = []
    let killedAt = 0
    for await (const r of pool.imapUnordered(jobs(200, 50))) {
      results.push(r as Out)
      if (killedAt === 0 && results.length === 20) {
        killedAt = Date.now()
        a.child.kill('SIGKILL')
      }
    }
    expect(xsOf(results)).toEqual(range(200))
    const moved = results.filter((r) => r.attempt > 1)
    expect(moved.length).toBeGreaterThan(0)
    expect(moved.every((r) => r.node === b.peerId)).toBe(true)
    const reassignedMs = Math.min(...moved.map((r) => r.startedAt)) - killedAt
    console.log(`SIGKILL: the killed node's job started elsewhere ${reassignedMs} ms after the kill`)
    expect(reassignedMs).toBeLessThan(1000)
  })

  it('SIGSTOP: its jobs move once the lease ends; after SIGCONT its late results double nothing', async () => {
    const head = await startHead({ noWork: true })
    const [a, b] = await Promise.all([joinNode(head.address, 1), joinNode(head.address, 1)])
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, leaseMs: 1000 })
    const results: Out[] = []
    let frozenAt = 0
    let thawed = false
    for await (const r of pool.imapUnordered(jobs(120, 50))) {
      results.push(r as Out)
      if (frozenAt === 0 && results.length === 10) {
        frozenAt = Date.now()
        a.child.kill('SIGSTOP')
      }
      if (frozenAt > 0 && !thawed && Date.now() - frozenAt > 2000) {
        thawed = true
        a.child.kill('SIGCONT')
      }
    }
    if (!thawed) a.child.kill('SIGCONT')
    expect(xsOf(results)).toEqual(range(120))
    const moved = results.filter((r) => r.attempt > 1 && r.startedAt >= frozenAt)
    expect(moved.length).toBeGreaterThan(0)
    const reassignedMs = Math.min(...moved.map((r) => r.startedAt)) - frozenAt
    console.log(`SIGSTOP: the frozen node's job started elsewhere ${reassignedMs} ms after the freeze (leaseMs 1000)`)
    expect(reassignedMs).toBeGreaterThanOrEqual(900)
    expect(reassignedMs).toBeLessThan(3000)
    expect(moved.every((r) => r.node === b.peerId)).toBe(true)
    // The frozen node never got its own expired jobs back: each moved once.
    expect(moved.every((r) => r.attempt === 2)).toBe(true)
  })
})

describe('slots that crash', () => {
  it('a slot busy past the lease keeps its job: heartbeats come from the node, not the slot', async () => {
    const head = await startHead({ noWork: true })
    await Promise.all([joinNode(head.address, 1), joinNode(head.address, 1)])
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, leaseMs: 500 })
    const results = (await pool.map([
      { x: 0, spinMs: 2000 },
      { x: 1, spinMs: 2000 },
    ])) as Out[]
    expect(results.map((r) => r.attempt)).toEqual([1, 1])
  })

  it('a worker that kills its slot as it starts: jobs fail with WorkerLostError, the slot is marked broken, the node stays up', async () => {
    const head = await startHead({ noWork: true })
    const node = await joinNode(head.address, 1)
    await using pool = await createPool({
      worker: WORKER,
      init: { exitInConstructor: true },
      head: head.address,
      password: PASSWORD,
      maxAttempts: 2,
    })
    for (let i = 0; i < 2; i++) {
      await expect(pool.submit({ x: i })).rejects.toMatchObject({
        name: 'WorkerLostError',
        message: expect.stringMatching(/exited with code 9/),
      })
    }
    // The fifth crash in a row breaks the slot; that job waits for a working slot elsewhere.
    const waiting = new AbortController()
    const third = pool.submit({ x: 2 }, { signal: waiting.signal }).catch((e: unknown) => e)
    await node.waitForLine(/slot 0 crashed 5 times in a row/)
    expect(node.child.exitCode).toBeNull()
    expect(await pool.nodesCount()).toBe(1)
    await waitFor(() => /joined/.test(head.output()))
    let workers = await pool.workersCount()
    for (let i = 0; i < 100 && workers !== 0; i++) workers = await pool.workersCount()
    expect(workers).toBe(0)
    waiting.abort()
    expect(await third).toMatchObject({ name: 'AbortError' })
  })

  it('completes every job when every 10th job crashes its slot once', async () => {
    const head = await startHead({ noWork: true })
    await Promise.all([joinNode(head.address, 2), joinNode(head.address, 2)])
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
    const inputs = range(100).map((x) => ({ x, exit: x % 10 === 0, exitUntilAttempt: 1 }))
    const results = (await pool.map(inputs)) as Out[]
    expect(results.map((r) => r.y)).toEqual(range(100).map((x) => 2 * x))
    expect(results.filter((r) => r.attempt === 2).map((r) => r.x)).toEqual(range(10).map((i) => i * 10))
  })

  it('fails a job that always crashes its slot with WorkerLostError after maxAttempts; the rest complete', async () => {
    const head = await startHead({ noWork: true })
    await Promise.all([joinNode(head.address, 2), joinNode(head.address, 2)])
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, maxAttempts: 3 })
    const doomed = pool.submit({ x: -1, exit: true }).catch((e: unknown) => e)
    const rest = (await pool.map(jobs(60, 5))) as Out[]
    expect(xsOf(rest)).toEqual(range(60))
    const err = (await doomed) as Error
    expect(err.name).toBe('WorkerLostError')
    expect(err.message).toMatch(/lost 3 times \(maxAttempts 3\)/)
    expect(err.message).toMatch(/slot died/)
  })
})

describe('errors, retries, timeouts and cancellation', () => {
  it('an exception reaches the caller with the remote stack; retries rerun it with backoff', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 2)
    await using once = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
    const err = (await once.submit({ x: 1, throw: 'no good' }).catch((e: unknown) => e)) as Error & {
      remoteName: string
    }
    expect(err.name).toBe('RemoteJobError')
    expect(err.remoteName).toBe('TypeError')
    expect(err.message).toMatch(/TypeError: no good/)
    expect(err.stack).toMatch(/fixtures\/worker\.js/)

    await using retrying = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, retries: 2 })
    const result = (await retrying.submit({ x: 3, throw: 'flaky', throwUntilAttempt: 2 })) as Out
    expect(result).toMatchObject({ y: 6, attempt: 3 })
    await expect(retrying.submit({ x: 4, throw: 'always' })).rejects.toMatchObject({ name: 'RemoteJobError' })
  })

  it('timeoutMs: a job that never returns fails with TimeoutError, its slot is replaced, later jobs run', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 1)
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
    const before = (await pool.submit({ x: 1 })) as Out
    const started = Date.now()
    await expect(pool.submit({ x: 2, hang: true }, { timeoutMs: 300 })).rejects.toMatchObject({
      name: 'TimeoutError',
      message: expect.stringMatching(/timeoutMs 300/),
    })
    expect(Date.now() - started).toBeLessThan(2000)
    const after = (await pool.map(jobs(5, 1))) as Out[]
    expect(after.map((r) => r.y)).toEqual([0, 2, 4, 6, 8])
    expect(after.every((r) => r.pid !== before.pid)).toBe(true)
  })

  it('an AbortSignal fired in the middle of a map rejects it at once, and no further job of it starts', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 2)
    const startLog = emptyLog()
    await using pool = await createPool({ worker: WORKER, init: { startLog }, head: head.address, password: PASSWORD })
    const controller = new AbortController()
    let done = 0
    const starts = () => startsIn(startLog)
    const map = pool.map(jobs(200, 50), { signal: controller.signal })
    const watcher = pool.imapUnordered([{ x: -1 }]) // the pool stays usable beside the map
    for await (const r of watcher) expect((r as Out).y).toBe(-2)
    await waitFor(() => starts() >= 10, 20_000, '10 jobs to start')
    const abortedAt = Date.now()
    controller.abort()
    await expect(map).rejects.toMatchObject({ name: 'AbortError' })
    expect(Date.now() - abortedAt).toBeLessThan(200)
    const startedByAbort = starts()
    // The next job of another call runs at once: the aborted jobs are gone from the queue and the slots.
    // The cancel went out before this submit on the same stream, so it reached the node first: from
    // here on no job of the map can start. Before that, each of the 2 slots may have started one more
    // in the moment the cancel was on its way.
    const next = (await pool.submit({ x: 7 })) as Out
    expect(next.y).toBe(14)
    done = starts()
    expect(done).toBeLessThanOrEqual(startedByAbort + 1 + 2)
    for (const x of [8, 9, 10]) {
      await pool.submit({ x })
      expect(starts()).toBe(++done)
    }
  })
})

describe('graceful stop', () => {
  it('SIGTERM: the node finishes its running jobs, gives back the rest, and leaves with exit 0', async () => {
    const head = await startHead({ noWork: true })
    const a = await joinNode(head.address, 2)
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
    const results: Out[] = []
    let b: Awaited<ReturnType<typeof joinNode>> | undefined
    for await (const r of pool.imapUnordered(jobs(40, 300))) {
      results.push(r as Out)
      if (results.length === 4) {
        a.child.kill('SIGTERM')
        b = await joinNode(head.address, 2)
      }
    }
    expect(await a.exited).toBe(0)
    expect(a.output()).toMatch(/draining/)
    expect(xsOf(results)).toEqual(range(40))
    // Drained, not lost: nothing ran twice.
    expect(results.every((r) => r.attempt === 1)).toBe(true)
    expect(results.some((r) => r.node === b?.peerId)).toBe(true)
  })

  it('a second signal leaves at once, and the head requeues', async () => {
    const head = await startHead({ noWork: true })
    const a = await joinNode(head.address, 1)
    const startLog = emptyLog()
    await using pool = await createPool({ worker: WORKER, init: { startLog }, head: head.address, password: PASSWORD })
    const results = pool.map(jobs(6, 400))
    await waitFor(() => startsIn(startLog) >= 1, 5000, 'a job to be running on the node')
    a.child.kill('SIGTERM')
    await a.waitForLine(/draining/)
    a.child.kill('SIGTERM')
    expect(await a.exited).toBe(130)
    await joinNode(head.address, 2)
    expect(((await results) as Out[]).map((r) => r.y)).toEqual(range(6).map((x) => 2 * x))
  })
})

describe('the head restarts', () => {
  it('SIGKILL of the head mid-map, restarted with the same key file: the map completes with every result once', async () => {
    const keyFile = join(tempDir(), 'head.key')
    const port = await freePort()
    const head = await startHead({ noWork: true, keyFile, port })
    await Promise.all([joinNode(head.address, 2), joinNode(head.address, 2)])
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
    const results: Out[] = []
    let restarted: Promise<unknown> | undefined
    for await (const r of pool.imapUnordered(jobs(300, 10))) {
      results.push(r as Out)
      if (restarted === undefined && results.length === 60) {
        head.child.kill('SIGKILL')
        restarted = head.exited.then(() => startHead({ noWork: true, keyFile, port }))
      }
    }
    await restarted
    expect(xsOf(results)).toEqual(range(300))
    expect(await pool.nodesCount()).toBe(2)
  })
})

describe('a client that goes away', () => {
  it('has its queued jobs dropped and its running ones cancelled', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 1)
    const startLog = emptyLog()
    const gone = await createPool({ worker: WORKER, init: { startLog }, head: head.address, password: PASSWORD })
    const abandoned = gone.map(jobs(50, 5000)).catch(() => undefined)
    await waitFor(() => startsIn(startLog) >= 1, 10_000, 'a job of the client to be running')
    await gone.close()
    await abandoned
    await using other = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
    const started = Date.now()
    expect(await other.submit({ x: 5 })).toMatchObject({ y: 10 })
    // Not 5 s behind the abandoned job that was running, nor behind the 49 queued ones.
    expect(Date.now() - started).toBeLessThan(2000)
  })
})

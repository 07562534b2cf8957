import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { capture, joinNode, PASSWORD, startHead, stopAll, tempDir, WORKER, waitFor } from './harness.js'

afterEach(stopAll)

const CRASH_CLIENT = fileURLToPath(new URL('./fixtures/crash-client.js', import.meta.url))
const LIFECYCLE_WORKER = new URL('./fixtures/lifecycle-worker.js', import.meta.url)

/** Runs fixtures/crash-client.js to its end: its exit code and output. */
async function crashClient(options: object): Promise<{ code: number | string; output: string }> {
  const proc = capture(spawn(process.execPath, [CRASH_CLIENT, JSON.stringify(options)], { stdio: 'pipe' }))
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 60_000)
  const code = await proc.exited
  clearTimeout(timer)
  return { code, output: proc.output() }
}

describe('an embedded pool whose slot crashes: the caller gets the error and its program goes on', () => {
  for (const slots of [1, 2]) {
    it(`process.exit in run(), ${slots} slot(s): WorkerLostError after maxAttempts, then the finally runs`, async () => {
      const { code, output } = await crashClient({ worker: 'worker.js', slots, params: { exit: true } })
      expect(output).toMatch(/^caught WorkerLostError: the job's worker was lost 3 times \(maxAttempts 3\)/m)
      expect(output).toMatch(/exited with code 7/)
      expect(output).toMatch(/^finally closed$/m)
      expect(code).toBe(0)
    })

    it(`process.exit in the constructor, ${slots} slot(s): WorkerLostError, then the finally runs`, async () => {
      const { code, output } = await crashClient({ worker: 'worker.js', slots, init: { exitInConstructor: true } })
      expect(output).toMatch(/^caught WorkerLostError: .*exited with code 9/m)
      expect(output).toMatch(/^finally closed$/m)
      expect(code).toBe(0)
    })

    it(`a constructor that throws, ${slots} slot(s): WorkerLoadError names the constructor, the cause and the fix`, async () => {
      const { code, output } = await crashClient({ worker: 'needs-init-worker.js', slots })
      const caught = /^caught .*$/m.exec(output)?.[0]
      expect(caught).toMatch(
        /^caught WorkerLoadError: the constructor of \S+needs-init-worker\.js threw: TypeError: Cannot read properties of undefined \(reading 'scale'\) \(at new NeedsInit \(\S+needs-init-worker\.js:\d+:\d+\)\); the pool has no init: pass the one the constructor needs, createPool\(\{ worker, init \}\)$/,
      )
      expect(output).toMatch(/^finally closed$/m)
      expect(code).toBe(0)
    })
  }

  it('every slot broken (maxAttempts 10): the open jobs fail with WorkerLostError at once, no slot being left', async () => {
    const { code, output } = await crashClient({
      worker: 'worker.js',
      slots: 1,
      maxAttempts: 10,
      params: { exit: true },
    })
    expect(output).toMatch(/^caught WorkerLostError: no slot is left to run the job: every slot crashed 5 times/m)
    expect(output).toMatch(/^finally closed$/m)
    expect(code).toBe(0)
  })
})

/** The lines of a lifecycle worker's log file. */
const lifeLog = (file: string): string[] => readFileSync(file, 'utf8').split('\n').filter(Boolean)

describe('dispose(): a worker is told when its pool is done with it, and its output goes to that pool', () => {
  it("the embedded pool's close() disposes of every slot's worker, and prints what dispose() printed", async () => {
    const log = join(tempDir(), 'life.log')
    writeFileSync(log, '')
    const lines: string[] = []
    const pool = await createPool({
      worker: LIFECYCLE_WORKER,
      slots: 2,
      init: { log, tag: 'E' },
      output: (l) => lines.push(l),
    })
    await pool.map([1, 2, 3, 4].map((x) => ({ x, delayMs: 50 })))
    await pool.close()
    const constructed = lifeLog(log).filter((l) => l.startsWith('construct '))
    expect(constructed).toHaveLength(2)
    expect(
      lifeLog(log)
        .filter((l) => l.startsWith('dispose '))
        .sort(),
    ).toEqual(constructed.map((l) => l.replace('construct', 'dispose')).sort())
    expect(lines.filter((l) => /^\[local\/[01]\] disposing E#[01]@\d+$/.test(l))).toHaveLength(2)
  })

  it('the embedded pool closed in the middle of a map: the running jobs are aborted, and every worker is disposed of', async () => {
    const log = join(tempDir(), 'life.log')
    writeFileSync(log, '')
    const pool = await createPool({ worker: LIFECYCLE_WORKER, slots: 2, init: { log }, output: 'ignore' })
    const mapping = pool.map([1, 2].map((x) => ({ x, waitForAbort: true })))
    mapping.catch(() => {})
    await waitFor(() => lifeLog(log).filter((l) => l.startsWith('run ')).length === 2, 10_000, 'both jobs to start')
    const closedAt = Date.now()
    await pool.close()
    expect(Date.now() - closedAt).toBeLessThan(3000)
    await expect(mapping).rejects.toMatchObject({ name: 'PoolClosedError' })
    expect(lifeLog(log).filter((l) => l.startsWith('dispose '))).toHaveLength(2)
  })

  it("a remote pool that closes: the node's slot disposes of its worker and keeps running, the node says so", async () => {
    const head = await startHead({ noWork: true })
    const node = await joinNode(head.address, 1)
    const log = join(tempDir(), 'life.log')
    writeFileSync(log, '')
    const pool = await createPool({ worker: LIFECYCLE_WORKER, head: head.address, password: PASSWORD, init: { log } })
    const [first] = (await pool.map([{ x: 1 }])) as Array<{ tag: string }>
    await pool.close()
    const tag = first?.tag as string
    await waitFor(
      () => lifeLog(log).includes(`dispose ${tag}`),
      10_000,
      'dispose() on the node',
      () => lifeLog(log).join('\n'),
    )
    await node.waitForLine(new RegExp(`\\] disposing ${tag.replace('#', '\\#')}$`))
    // The slot process lives on for the next pool: dispose is not a kill.
    const pid = Number(tag.split('@')[1])
    expect(() => process.kill(pid, 0)).not.toThrow()
  })

  it('a slot that switches pools: what dispose() prints goes to the pool that owned the worker, not the next one', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 1)
    const log = join(tempDir(), 'life.log')
    writeFileSync(log, '')
    const seenBy = { A: [] as string[], B: [] as string[] }
    const open = (tag: 'A' | 'B') =>
      createPool({
        worker: LIFECYCLE_WORKER,
        head: head.address,
        password: PASSWORD,
        init: { log, tag },
        output: (line) => seenBy[tag].push(line),
      })
    await using a = await open('A')
    await a.map([{ x: 1 }])
    await using b = await open('B')
    await b.map([{ x: 2 }]) // A has nothing queued: the one slot disposes of A's worker and loads B's
    await waitFor(
      () => seenBy.A.some((l) => /disposing A#0/.test(l)),
      10_000,
      "A's dispose output at A",
      () => JSON.stringify(seenBy),
    )
    expect(seenBy.B.filter((l) => /disposing A/.test(l))).toEqual([])
    const lives = lifeLog(log).filter((l) => !l.startsWith('run '))
    expect(lives.map((l) => l.split('@')[0])).toEqual(['construct A#0', 'dispose A#0', 'construct B#0'])
  })

  it('a node that drains on SIGTERM disposes of its workers before it leaves; the open pool sees their output', async () => {
    const head = await startHead({ noWork: true })
    const node = await joinNode(head.address, 2)
    const log = join(tempDir(), 'life.log')
    writeFileSync(log, '')
    const lines: string[] = []
    await using pool = await createPool({
      worker: LIFECYCLE_WORKER,
      head: head.address,
      password: PASSWORD,
      init: { log },
      output: (line) => lines.push(line),
    })
    await pool.map([1, 2, 3, 4].map((x) => ({ x, delayMs: 50 })))
    const constructed = lifeLog(log).filter((l) => l.startsWith('construct '))
    node.child.kill('SIGTERM')
    expect(await node.exited).toBe(0)
    expect(
      lifeLog(log)
        .filter((l) => l.startsWith('dispose '))
        .sort(),
    ).toEqual(constructed.map((l) => l.replace('construct', 'dispose')).sort())
    await waitFor(
      () => lines.filter((l) => /\] disposing w#/.test(l)).length === constructed.length,
      10_000,
      'the dispose output at the pool',
      () => lines.join('\n'),
    )
  })
})

describe("a node's log tells each slot crash and each kill", () => {
  it('a crash: the exit code, the job id and its attempt, and when the slot restarts', async () => {
    const head = await startHead({ noWork: true })
    const node = await joinNode(head.address, 1)
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
    const out = (await pool.submit({ x: 1, exit: true, exitUntilAttempt: 1 })) as { attempt: number; jobId: number }
    expect(out.attempt).toBe(2)
    const line = await node.waitForLine(/slot 0 exited with code 7/)
    expect(line).toMatch(
      new RegExp(
        `^\\[\\S+\\] slot 0 exited with code 7 while running job ${out.jobId} \\(attempt 1\\); restarting it in 100 ms$`,
      ),
    )
  })

  it('a kill: a job that ignores its timeout is named with its attempt, and the slot dies by SIGKILL', async () => {
    const head = await startHead({ noWork: true })
    const node = await joinNode(head.address, 1)
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
    await expect(pool.submit({ x: 1, hang: true }, { timeoutMs: 300 })).rejects.toMatchObject({ name: 'TimeoutError' })
    const kill = await node.waitForLine(/killing the slot/)
    expect(kill).toMatch(
      /^\[\S+\] slot 0: job (\d+) \(attempt 1\) ran on 1000 ms after its timeout \(timeoutMs 300\) aborted ctx\.signal: killing the slot \(SIGKILL\)$/,
    )
    const jobId = /job (\d+)/.exec(kill)?.[1]
    const exit = await node.waitForLine(/slot 0 was killed by SIGKILL/)
    expect(exit).toMatch(
      new RegExp(
        `^\\[\\S+\\] slot 0 was killed by SIGKILL after job ${jobId} \\(attempt 1\\) ignored its abort; restarting it$`,
      ),
    )
  })
})

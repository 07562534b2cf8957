import type { ClientMessage, HeadToClientMessage } from '@meshpool/core'
import { describe, expect, it } from 'vitest'
import { PoolClient } from '../src/client/pool-client.js'
import { channelPair } from '../src/net/memory-channel.js'

/** A head that only records what the client sends; the test answers for it. */
function fakeHead(open: { maxOpenJobs?: number } = {}) {
  const [client, head] = channelPair<HeadToClientMessage, ClientMessage>()
  const got: ClientMessage[] = []
  let closed = false
  head.start({
    message: (message) => {
      got.push(message)
      if (message.type === 'open') head.send({ type: 'opened', poolId: 1, ...open })
    },
    close: () => {
      closed = true
    },
  })
  return {
    client,
    got,
    send: (message: HeadToClientMessage) => head.send(message),
    close: () => head.close(new Error('head gone')),
    closed: () => closed,
    /** The ids of every job the client submitted, in order. */
    submitted: () => got.flatMap((m) => (m.type === 'submit' ? m.jobs.map((j) => j.id) : [])),
    of: <T extends ClientMessage['type']>(type: T) =>
      got.filter((m): m is Extract<ClientMessage, { type: T }> => m.type === type),
  }
}

const client = (init: Partial<ConstructorParameters<typeof PoolClient>[0]> = {}) =>
  new PoolClient({ worker: '/w.js', init: new Uint8Array(), settings: {}, log: () => {}, ...init })
const turn = () => new Promise((resolve) => setImmediate(resolve))
const bytes = (n: number) => new Uint8Array([n])

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('PoolClient', () => {
  it('sends the jobs of one turn in one frame, and no more than the head holds', async () => {
    const head = fakeHead({ maxOpenJobs: 2 })
    const pool = client()
    await pool.open(head.client)
    const jobs = [1, 2, 3, 4, 5].map((n) => pool.submit(bytes(n)))
    for (const job of jobs) job.result.catch(() => {}) // the ones still open reject as the pool closes
    await until(() => head.submitted().length > 0, 'the first frame')
    await turn()
    expect(head.of('submit')).toHaveLength(1)
    expect(head.submitted()).toStrictEqual([1, 2])
    head.send({ type: 'results', results: [{ id: 1, ok: true, value: bytes(10) }] })
    await expect(jobs[0]?.result).resolves.toStrictEqual(bytes(10))
    await until(() => head.submitted().length > 2, 'the next job sent')
    expect(head.submitted()).toStrictEqual([1, 2, 3])
    // A cancelled job that was sent is cancelled on the head; one not sent yet never goes.
    pool.cancel([2, 4])
    await until(() => head.of('cancel').length > 0, 'the cancel')
    await until(() => head.submitted().length > 3, 'the job after the cancelled ones')
    expect(head.of('cancel')).toStrictEqual([{ type: 'cancel', ids: [2] }])
    expect(head.submitted()).toStrictEqual([1, 2, 3, 5])
    pool.close()
  })

  it('keeps its own errors and wraps what a worker threw', async () => {
    const head = fakeHead()
    const pool = client()
    await pool.open(head.client)
    const lost = pool.submit(bytes(1)).result
    const thrown = pool.submit(bytes(2)).result
    head.send({
      type: 'results',
      results: [
        { id: 1, ok: false, error: { name: 'WorkerLostError', message: 'lost' } },
        { id: 2, ok: false, error: { name: 'TypeError', message: 'bad' }, where: 'node-a' },
      ],
    })
    await expect(lost).rejects.toMatchObject({ name: 'WorkerLostError', message: 'lost' })
    await expect(thrown).rejects.toMatchObject({ name: 'RemoteJobError', remoteName: 'TypeError' })
    pool.close()
  })

  it('after a reconnect sends again its updates, its open jobs and its requests, and each settles once', async () => {
    const first = fakeHead()
    const second = fakeHead()
    const pool = client({ reconnect: async () => second.client })
    await pool.open(first.client)
    const jobs = [1, 2, 3].map((n) => pool.submit(bytes(n)))
    const update = pool.update(bytes(9))
    const stats = pool.stats()
    await turn()
    first.send({ type: 'results', results: [{ id: 1, ok: true, value: bytes(1) }] })
    await expect(jobs[0]?.result).resolves.toStrictEqual(bytes(1))
    first.close()
    await until(() => second.of('stats').length > 0, 'the requests sent again')
    expect(second.got.map((m) => m.type)).toStrictEqual(['open', 'update', 'submit', 'stats'])
    expect(second.submitted()).toStrictEqual([2, 3])
    const [resent] = second.of('update')
    const [asked] = second.of('stats')
    second.send({ type: 'updated', reqId: resent?.reqId as number, seq: 1 })
    second.send({ type: 'stats', reqId: asked?.reqId as number, workers: 4, nodes: 2 })
    second.send({
      type: 'results',
      results: [
        { id: 2, ok: true, value: bytes(2) },
        { id: 3, ok: true, value: bytes(3) },
        { id: 2, ok: true, value: bytes(20) }, // a second result of a settled job changes nothing
      ],
    })
    await expect(update).resolves.toBe(1)
    await expect(stats).resolves.toStrictEqual({ slots: 4, nodes: 2 })
    await expect(Promise.all(jobs.map((j) => j.result))).resolves.toStrictEqual([bytes(1), bytes(2), bytes(3)])
    pool.close()
  })

  it('without a way to reconnect, a lost head fails every open call, and later calls too', async () => {
    const head = fakeHead()
    const pool = client()
    await pool.open(head.client)
    const job = pool.submit(bytes(1)).result
    const nodes = pool.nodes()
    head.close()
    await expect(job).rejects.toMatchObject({ name: 'PoolClosedError', message: 'lost the head: head gone' })
    await expect(nodes).rejects.toMatchObject({ name: 'PoolClosedError' })
    await expect(pool.submit(bytes(2)).result).rejects.toMatchObject({ name: 'PoolClosedError' })
    await expect(pool.update(bytes(1))).rejects.toMatchObject({ name: 'PoolClosedError' })
  })

  it('a refusal fails the open calls and closes the connection', async () => {
    const head = fakeHead()
    const pool = client()
    await pool.open(head.client)
    const job = pool.submit(bytes(1)).result
    head.send({ type: 'refused', message: 'too many open jobs' })
    await expect(job).rejects.toMatchObject({
      name: 'PoolClosedError',
      message: 'the head refused this client: too many open jobs',
    })
    await until(head.closed, 'the connection closed')
  })

  it('passes progress on for open jobs only, and output lines as they come', async () => {
    const head = fakeHead()
    const lines: string[][] = []
    const pool = client({ onOutput: (l) => lines.push(l) })
    const progress: Array<[number, number]> = []
    pool.onProgress = (id, fraction) => progress.push([id, fraction])
    await pool.open(head.client)
    pool.watch(true)
    pool.watch(true)
    pool.submit(bytes(1)).result.catch(() => {})
    head.send({ type: 'output', lines: ['[node 0] hi'] })
    head.send({
      type: 'progress',
      progress: [
        { id: 1, fraction: 0.5 },
        { id: 7, fraction: 0.5 },
      ],
    })
    await until(() => progress.length > 0, 'progress')
    expect(head.of('watch')).toStrictEqual([{ type: 'watch', on: true }])
    expect(progress).toStrictEqual([[1, 0.5]])
    expect(lines).toStrictEqual([['[node 0] hi']])
    pool.close()
  })
})

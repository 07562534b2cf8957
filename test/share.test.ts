import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BLOB_PROTOCOL, encodeValue, WORK_PROTOCOL } from '@meshpool/core'
import { multiaddr } from '@multiformats/multiaddr'
import { createPeer, createPool, derivePoolKey, SharedValueError } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { frame, frames } from './frames.js'
import {
  capture,
  type JoinedNode,
  joinNode,
  PASSWORD,
  startHead,
  stopAll,
  tempDir,
  WORKER,
  waitFor,
} from './harness.js'

afterEach(stopAll)

const SHARED_WORKER = new URL('./fixtures/shared-worker.js', import.meta.url)

interface Seen {
  k: number
  digest: string
  bytes: number
  again: boolean
  node: string
  pid: number
}

/** Bytes a process has written so far, sockets included (Linux's /proc/<pid>/io). */
function bytesWritten(pid: number | undefined): number {
  return Number(/^wchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1])
}

const fetchedLines = (node: JoinedNode): string[] =>
  node
    .output()
    .split('\n')
    .filter((line) => /fetched blob/.test(line))

function bigValue(mib: number): Uint8Array {
  const data = new Uint8Array(mib * 1024 * 1024)
  for (let i = 0; i < data.length; i += 512) data[i] = (i / 512) % 251
  return data
}

describe('pool.share', () => {
  it('sends a 16 MiB value once: 140 jobs on 7 nodes refer to it, each node fetches it once, most from other nodes', async () => {
    const head = await startHead({ noWork: true })
    const nodes = await Promise.all(
      Array.from({ length: 7 }, () => joinNode(head.address, 1, { DEBUG: 'meshpool:blobs*' })),
    )
    await using pool = await createPool({ worker: SHARED_WORKER, head: head.address, password: PASSWORD })
    await waitFor(async () => (await pool.nodesCount()) === nodes.length, 30_000, 'every node to join')
    const data = bigValue(16)
    const before = bytesWritten(head.child.pid)
    const ref = await pool.share(data)
    expect(ref.bytes).toBeGreaterThan(data.byteLength)
    const results = (await pool.map(
      Array.from({ length: 140 }, (_, k) => ({ k, data: ref })),
      { window: 140 },
    )) as Seen[]
    const digest = createHash('sha256').update(data).digest('hex')
    // Every job saw the value itself, byte for byte, and each slot decoded it once.
    expect(results.map((r) => r.k)).toEqual(Array.from({ length: 140 }, (_, k) => k))
    expect(results.every((r) => r.digest === digest)).toBe(true)
    const slots = new Set(results.map((r) => r.pid)).size
    expect(results.filter((r) => !r.again)).toHaveLength(slots)
    // Each node that ran a job fetched the value once; the head sent it at most 3 times.
    const ran = new Set(results.map((r) => r.node))
    const fetched = nodes.filter((node) => ran.has(node.peerId)).map(fetchedLines)
    for (const lines of fetched) expect(lines).toHaveLength(1)
    const fromHead = fetched.filter(([line]) => /from the head/.test(line ?? '')).length
    expect(fromHead).toBeLessThanOrEqual(3)
    // The head wrote about 3 copies, not 140 (inline params would be 140 × 16 MiB).
    expect(bytesWritten(head.child.pid) - before).toBeLessThan(4 * data.byteLength)
  })

  it('unshare frees it everywhere: a later job that refers to it fails with SharedValueError, and the pool goes on', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 2)
    await using pool = await createPool({ worker: SHARED_WORKER, head: head.address, password: PASSWORD })
    const ref = await pool.share(bigValue(2))
    expect((await pool.map([0, 1, 2, 3].map((k) => ({ k, data: ref })))).length).toBe(4)
    await pool.unshare(ref)
    const error = await pool.submit({ k: 9, data: ref }).catch((err: Error) => err)
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).toMatch(
      /SharedValueError: the shared value \w{12}… could not be fetched \(the head no longer holds blob .*\): was it unshared, or its pool closed, before this job ran\?/,
    )
    // Sharing the same bytes again works, and inline params never needed any of this.
    const again = await pool.share(bigValue(2))
    expect(again.hash).toBe(ref.hash)
    expect(((await pool.submit({ k: 10, data: again })) as Seen).bytes).toBe(2 * 1024 * 1024)
    expect(((await pool.submit({ k: 11, data: 'inline' })) as Seen).digest).toBe('inline')
    expect(SharedValueError.name).toBe('SharedValueError')
  })

  it('takes a value past the 256 MiB frame limit: 300 MiB goes in parts, and every job sees it whole', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 1)
    await using pool = await createPool({ worker: SHARED_WORKER, head: head.address, password: PASSWORD })
    const data = bigValue(300)
    const ref = await pool.share(data)
    expect(ref.bytes).toBeGreaterThan(300 * 1024 * 1024)
    const results = (await pool.map([0, 1].map((k) => ({ k, data: ref })))) as Seen[]
    const digest = createHash('sha256').update(data).digest('hex')
    expect(results.map((r) => [r.k, r.digest, r.bytes])).toEqual([
      [0, digest, data.byteLength],
      [1, digest, data.byteLength],
    ])
  }, 120_000)

  it('hands big params and shared values to the slots raw, each to its own job: 24 jobs, inline 2 MiB params and a shared value in turn', async () => {
    await using pool = await createPool({ worker: SHARED_WORKER, slots: 2 })
    const shared = bigValue(3)
    const ref = await pool.share(shared)
    const inline = (k: number) => new Uint8Array(2 * 1024 * 1024).fill(k)
    const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex')
    const results = (await pool.map(
      Array.from({ length: 24 }, (_, k) => ({ k, data: k % 2 === 0 ? inline(k) : ref })),
    )) as Seen[]
    expect(results.map((r) => r.digest)).toEqual(
      Array.from({ length: 24 }, (_, k) => (k % 2 === 0 ? sha(inline(k)) : sha(shared))),
    )
  })

  it("refuses what can't be shared, naming the problem", async () => {
    await using pool = await createPool({ worker: SHARED_WORKER, slots: 1 })
    await expect(pool.share({ f: () => 1 })).rejects.toThrow(/the shared value\.f is a function/)
    await expect(pool.unshare({ hash: 'x' } as never)).rejects.toThrow(
      'unshare takes a handle that pool.share() returned',
    )
  })
})

describe('a client that dies while it shares a 200 MiB value', () => {
  it('has its running jobs cancelled: the head stays up, and the next pool gets the slots at once', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 2)
    const startLog = join(tempDir(), 'started.log')
    const script = fileURLToPath(new URL('./fixtures/share-client.js', import.meta.url))
    const client = capture(
      spawn(process.execPath, [script, head.address, startLog], {
        env: { ...process.env, MESHPOOL_PASSWORD: PASSWORD },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    )
    await client.waitForLine(/^sharing$/, 60_000)
    // Killed once the head has read a good part of the value, not all of it.
    const read = () => Number(/^rchar: (\d+)$/m.exec(readFileSync(`/proc/${head.child.pid}/io`, 'utf8'))?.[1])
    const before = read()
    await waitFor(() => read() - before > 20 * 1024 * 1024, 30_000, 'the head to read 20 MiB of the value')
    client.child.kill('SIGKILL')
    expect(await client.exited).toBe('SIGKILL')
    expect(client.output()).not.toMatch(/^shared/m)
    // Both slots were held by the dead client's jobs: they are free again for the next pool.
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    const results = (await pool.map([1, 2, 3, 4].map((x) => ({ x })))) as Array<{ y: number }>
    expect(results.map((r) => r.y)).toEqual([2, 4, 6, 8])
    expect(head.child.exitCode).toBeNull()
  })
})

describe('a member that serves a shared value it altered', () => {
  it('is caught by the hash: the node fetches it again from the head, every job sees the true bytes, and the liar is named', async () => {
    const head = await startHead({ noWork: true })
    const honest = await joinNode(head.address, 1, { DEBUG: 'meshpool:blobs*' })
    await using pool = await createPool({ worker: SHARED_WORKER, head: head.address, password: PASSWORD })
    const data = bigValue(4)
    const ref = await pool.share(data)
    // A member with the pool's secret joins as a node that others can reach…
    const liar = await createPeer({
      psk: derivePoolKey(PASSWORD, '', head.peerId),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    try {
      const altered = Uint8Array.from(encodeValue(data))
      altered[altered.length - 1] = (altered.at(-1) as number) ^ 0xff
      await liar.handle(BLOB_PROTOCOL, (stream) => {
        void (async () => {
          for await (const request of frames(stream)) {
            const { type, hash } = request as { type: string; hash: string }
            if (type === 'fetch') stream.send(frame({ type: 'blob', hash, data: altered }))
          }
        })()
      })
      const work = await liar.dialProtocol(multiaddr(head.address), WORK_PROTOCOL)
      const addrs = liar.getMultiaddrs().map(String)
      work.send(frame({ type: 'hello', name: 'liar', slots: 1, addrs }))
      await head.waitForLine(/liar .*joined with 1 slot$/)
      // …fetches the value from the head and says it has it, so the head names it as a source.
      const blobs = await liar.dialProtocol(multiaddr(head.address), BLOB_PROTOCOL)
      blobs.send(frame({ type: 'fetch', hash: ref.hash }))
      for await (const reply of frames(blobs)) {
        if ((reply as { type: string }).type === 'blob') break
      }
      blobs.send(frame({ type: 'have', hash: ref.hash }))
      // The honest node is sent to the liar first, finds the bytes do not match, and asks the head.
      const results = (await pool.map(
        Array.from({ length: 8 }, (_, k) => ({ k, data: ref })),
        { window: 8 },
      )) as Seen[]
      const digest = createHash('sha256').update(data).digest('hex')
      expect(results.every((r) => r.digest === digest && r.node === honest.peerId)).toBe(true)
      await honest.waitForLine(
        new RegExp(
          `blob ${ref.hash.slice(0, 12)} from ${liar.peerId} failed \\(blob ${ref.hash.slice(0, 12)}… from node ${liar.peerId} arrived corrupted\\): asking the head`,
        ),
      )
      expect(fetchedLines(honest)).toEqual([expect.stringMatching(/from the head$/)])
      blobs.abort(new Error('done'))
    } finally {
      await liar.stop()
    }
  })
})

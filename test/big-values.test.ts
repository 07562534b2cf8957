import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { BLOB_PROTOCOL, CLIENT_PROTOCOL, decodeValue, encodeBlobRef, encodeValue } from '@meshpool/core'
import { multiaddr } from '@multiformats/multiaddr'
import { createPeer, createPool, derivePoolKey } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { frame, frames } from './frames.js'
import { capture, type JoinedNode, joinNode, PASSWORD, startHead, stopAll, waitFor } from './harness.js'

afterEach(stopAll)

const SHARED_WORKER = new URL('./fixtures/shared-worker.js', import.meta.url)
const RESULT_WORKER = new URL('./fixtures/big-result-worker.js', import.meta.url)

interface Made {
  node: string
  data: Uint8Array
  digest?: string
}
const MiB = 1024 * 1024

interface Seen {
  k: number
  digest: string
  bytes: number
  node: string
}

/** Bytes a process has written or read so far, sockets included (Linux's /proc/<pid>/io). */
function io(pid: number | undefined, what: 'wchar' | 'rchar'): number {
  return Number(new RegExp(`^${what}: (\\d+)$`, 'm').exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1])
}

const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

function distinct(mib: number, seed: number): Uint8Array {
  const data = new Uint8Array(mib * MiB)
  for (let i = 0; i < data.length; i += 256) data[i] = (i / 256 + seed) % 251
  return data
}

const paramsLines = (node: JoinedNode): string[] =>
  node
    .output()
    .split('\n')
    .filter((line) => /fetched params/.test(line))

describe('params of 1 MiB or more', () => {
  it('skip the head: a 64 MiB input and four distinct 8 MiB ones reach their jobs whole, and the head moves none of their bytes', async () => {
    const head = await startHead({ noWork: true })
    const node = await joinNode(head.address, 2, { DEBUG: 'meshpool:blobs*' })
    await using pool = await createPool({ worker: SHARED_WORKER, head: head.address, password: PASSWORD })
    await pool.submit({ k: -1, data: 'warm' })
    const written = io(head.child.pid, 'wchar')
    const read = io(head.child.pid, 'rchar')
    const big = distinct(64, 0)
    const one = (await pool.submit({ k: 0, data: big })) as Seen
    expect([one.digest, one.bytes]).toEqual([sha(big), big.byteLength])
    const inputs = [1, 2, 3, 4].map((k) => distinct(8, k))
    const many = (await pool.map(inputs.map((data, k) => ({ k: k + 1, data })))) as Seen[]
    expect(many.map((r) => [r.k, r.digest])).toEqual(inputs.map((data, k) => [k + 1, sha(data)]))
    // 96 MiB went to the node; the head read and wrote a few frames about the jobs.
    expect(io(head.child.pid, 'wchar') - written).toBeLessThan(MiB)
    expect(io(head.child.pid, 'rchar') - read).toBeLessThan(MiB)
    expect(paramsLines(node)).toHaveLength(5)
    expect(paramsLines(node).every((line) => /from the client in \d+ ms$/.test(line))).toBe(true)
  })

  it('go through the head when the nodes cannot reach the client (listen: false), piped, and the job sees them whole', async () => {
    const head = await startHead({ noWork: true })
    const node = await joinNode(head.address, 1, { DEBUG: 'meshpool:blobs*' })
    await using pool = await createPool({
      worker: SHARED_WORKER,
      head: head.address,
      password: PASSWORD,
      listen: false,
    })
    const written = io(head.child.pid, 'wchar')
    const data = distinct(48, 9)
    const seen = (await pool.submit({ k: 7, data })) as Seen
    expect([seen.k, seen.digest, seen.bytes]).toEqual([7, sha(data), data.byteLength])
    // The head passed the bytes on once.
    const relayed = io(head.child.pid, 'wchar') - written
    expect(relayed).toBeGreaterThan(data.byteLength)
    expect(relayed).toBeLessThan(data.byteLength + 4 * MiB)
    expect(paramsLines(node)).toEqual([expect.stringMatching(/from the head in \d+ ms$/)])
  })

  it('refuses a listen option that is not an address', async () => {
    const head = await startHead({ noWork: true })
    await expect(
      createPool({ worker: SHARED_WORKER, head: head.address, password: PASSWORD, listen: 'port 4000' }),
    ).rejects.toThrow(
      /options.listen: .*the listen address "port 4000" is not a TCP multiaddr|the listen address "port 4000" is not a TCP multiaddr/,
    )
  })
})

describe('results of 1 MiB or more', () => {
  it('go from the node to the client: a 300 MiB one (over the frame limit) and three distinct 2 MiB ones arrive whole, and the head moves none of their bytes', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 1)
    await using pool = await createPool({ worker: RESULT_WORKER, head: head.address, password: PASSWORD })
    await pool.submit({ mib: 0 })
    const written = io(head.child.pid, 'wchar')
    const big = (await pool.submit({ mib: 300, seed: 1 })) as Made
    expect(sha(big.data)).toBe(sha(distinct(300, 1)))
    const small = (await pool.map([2, 3, 4].map((seed) => ({ mib: 2, seed })))) as Made[]
    expect(small.map((r) => sha(r.data))).toEqual([2, 3, 4].map((seed) => sha(distinct(2, seed))))
    expect(io(head.child.pid, 'wchar') - written).toBeLessThan(MiB)
  }, 120_000)

  it('go through the head to a client that does not listen, piped', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 1)
    await using pool = await createPool({
      worker: RESULT_WORKER,
      head: head.address,
      password: PASSWORD,
      listen: false,
    })
    await pool.submit({ mib: 0 })
    const written = io(head.child.pid, 'wchar')
    const made = (await pool.submit({ mib: 40, seed: 5 })) as Made
    expect(sha(made.data)).toBe(sha(distinct(40, 5)))
    const relayed = io(head.child.pid, 'wchar') - written
    expect(relayed).toBeGreaterThan(40 * MiB)
    expect(relayed).toBeLessThan(44 * MiB)
  })

  it("travel on the head's own connection to the client when the head's own slots run the job", async () => {
    const head = await startHead({ slots: 1 })
    await using pool = await createPool({ worker: RESULT_WORKER, head: head.address, password: PASSWORD })
    const input = distinct(8, 2)
    const made = (await pool.submit({ mib: 8, seed: 6, data: input })) as Made
    expect([made.digest, sha(made.data)]).toEqual([sha(input), sha(distinct(8, 6))])
  })
})

describe('a client that dies while a node fetches its 400 MiB params', () => {
  it('has its job dropped: nothing hangs, and the next pool runs on the same slot at once', async () => {
    const head = await startHead({ noWork: true })
    const node = await joinNode(head.address, 1)
    const script = fileURLToPath(new URL('./fixtures/big-params-client.js', import.meta.url))
    const client = capture(
      spawn(process.execPath, [script, head.address], {
        env: { ...process.env, MESHPOOL_PASSWORD: PASSWORD },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    )
    await client.waitForLine(/^submitting$/, 60_000)
    const before = io(node.child.pid, 'rchar')
    await waitFor(
      () => io(node.child.pid, 'rchar') - before > 40 * MiB,
      60_000,
      'the node to read 40 MiB of the params',
    )
    client.child.kill('SIGKILL')
    expect(await client.exited).toBe('SIGKILL')
    await using pool = await createPool({ worker: SHARED_WORKER, head: head.address, password: PASSWORD })
    const results = (await pool.map([1, 2, 3].map((k) => ({ k, data: 'small' })))) as Seen[]
    expect(results.map((r) => [r.k, r.node])).toEqual([1, 2, 3].map((k) => [k, node.peerId]))
    expect(head.child.exitCode).toBeNull()
    expect(node.child.exitCode).toBeNull()
  })
})

describe('a client member that serves params that do not match their hash', () => {
  /**
   * A client by hand, with the pool's secret: it opens a pool, submits one job whose params
   * it keeps (a BlobRef reference), and answers nodes that fetch them: with altered bytes
   * to a node that dials it, and to the head's relay as `honestToHead` says.
   */
  async function lyingClient(headAddress: string, headPeerId: string, honestToHead: boolean) {
    const params = encodeValue({ k: 1, data: distinct(4, 3) })
    const altered = Uint8Array.from(params)
    altered[altered.length - 1] = (altered.at(-1) as number) ^ 0xff
    const hash = sha(params)
    const liar = await createPeer({
      psk: derivePoolKey(PASSWORD, '', headPeerId),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    await liar.handle(BLOB_PROTOCOL, (stream, connection) => {
      const fromHead = connection.remotePeer.toString() === headPeerId
      void (async () => {
        for await (const request of frames(stream)) {
          if ((request as { type: string }).type !== 'fetch') continue
          stream.send(frame({ type: 'blob', hash, data: fromHead && honestToHead ? params : altered }))
        }
      })().catch(() => {})
    })
    const channel = await liar.dialProtocol(multiaddr(headAddress), CLIENT_PROTOCOL)
    channel.send(
      frame({
        type: 'open',
        worker: fileURLToPath(SHARED_WORKER),
        init: encodeValue(undefined),
        settings: {},
        addrs: liar.getMultiaddrs().map(String),
      }),
    )
    channel.send(
      frame({ type: 'submit', jobs: [{ id: 1, params: encodeBlobRef({ hash, bytes: params.byteLength }) }] }),
    )
    const outcome = (async () => {
      for await (const message of frames(channel)) {
        const { type, results } = message as { type: string; results?: unknown[] }
        if (type === 'results') return results?.[0] as { ok: boolean; value?: Uint8Array; error?: { message: string } }
      }
      throw new Error('the head closed the client stream')
    })()
    return { liar, outcome, data: distinct(4, 3) }
  }

  it('is refused by the hash: the node fetches them again through the head, and the job sees the true bytes', async () => {
    const head = await startHead({ noWork: true })
    const node = await joinNode(head.address, 1, { DEBUG: 'meshpool:blobs*' })
    const { liar, outcome, data } = await lyingClient(head.address, head.peerId, true)
    try {
      const result = await outcome
      expect(result.ok).toBe(true)
      expect(decodeValue<Seen>(result.value as Uint8Array).digest).toBe(sha(data))
      await node.waitForLine(/params \w{12} from the client came altered: fetching them through the head/)
      expect(paramsLines(node)).toEqual([expect.stringMatching(/from the head in \d+ ms$/)])
    } finally {
      await liar.stop()
    }
  })

  it('fails the job, naming the problem, when no copy matches: the node stays up', async () => {
    const head = await startHead({ noWork: true })
    const node = await joinNode(head.address, 1)
    const { liar, outcome } = await lyingClient(head.address, head.peerId, false)
    try {
      const result = await outcome
      expect(result.ok).toBe(false)
      expect(result.error?.message).toMatch(
        /its params \(\d+ bytes\) could not be fetched: the params \w{12}… came altered through the head/,
      )
      await using pool = await createPool({ worker: SHARED_WORKER, head: head.address, password: PASSWORD })
      expect(((await pool.submit({ k: 5, data: 'after' })) as Seen).node).toBe(node.peerId)
    } finally {
      await liar.stop()
    }
  })
})

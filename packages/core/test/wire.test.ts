import {
  type BlobReply,
  type BlobRequest,
  type ClientMessage,
  type CodeReply,
  type CodeRequest,
  decodeFrame,
  encodeFrame,
  encodeFramePieces,
  FrameError,
  type HeadsMessage,
  type HeadToClientMessage,
  type HeadToNodeMessage,
  inbound,
  MAX_BATCH_ITEMS,
  type NodeMessage,
  type RelayRequest,
  type ResultAck,
  type ResultPart,
} from '@meshpool/core'
import { describe, expect, it } from 'vitest'

const HASH = 'abababababababababababababababababababababababababababababababab'

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b)

/** Messages of every type each side may receive, with every optional field both ways. */
const samples = {
  'head.work': [
    { type: 'hello', name: 'gpu-box-1', slots: 8 },
    { type: 'hello', name: 'gpu-box-2', slots: 1, addrs: ['/ip4/10.0.0.7/tcp/4001/p2p/12D3KooWx'] },
    { type: 'findPeers' },
    { type: 'hello', name: 'gpu-box-3', slots: 2, gpus: [{ index: 0, name: 'NVIDIA H100', memoryMB: 81559 }] },
    { type: 'heartbeat', slotStates: ['idle', 'busy', 'loading', 'down', 'broken'] },
    { type: 'pull', n: 0 },
    { type: 'pull', n: 16 },
    { type: 'results', results: [] },
    {
      type: 'results',
      results: [
        { jobId: 1, leaseId: 10, ok: true, value: bytes(1, 2, 3) },
        {
          jobId: 2,
          leaseId: 11,
          ok: false,
          error: { name: 'TypeError', message: 'bad', stack: 'TypeError: bad\n  at x' },
        },
        { jobId: 3, leaseId: 12, ok: false, error: { name: 'Error', message: 'slot died' }, lost: true },
        { jobId: 4, leaseId: 13, ok: true, value: bytes() },
      ],
    },
    { type: 'catchup', poolId: 3, from: 41 },
    { type: 'heartbeat' },
    { type: 'release', jobIds: [] },
    { type: 'release', jobIds: [1, 2, 3] },
    { type: 'slots', slots: 0 },
    { type: 'loadFailed', poolId: 2, error: { name: 'WorkerLoadError', message: "Cannot find package 'left-pad'" } },
    { type: 'output', poolId: 2, lines: [] },
    { type: 'output', poolId: 2, lines: ['[gpu-box-1/0] epoch 1', ''] },
    { type: 'progress', progress: [] },
    {
      type: 'progress',
      progress: [
        { jobId: 1, leaseId: 2, fraction: 0 },
        { jobId: 3, leaseId: 4, fraction: 1 },
      ],
    },
  ] satisfies NodeMessage[],
  'head.client': [
    { type: 'open', worker: 'file:///srv/trainer.js', init: bytes(0xa0), settings: {} },
    { type: 'open', worker: '/srv/t.js', init: bytes(), settings: { maxAttempts: 2, retries: 1, leaseMs: 500 } },
    { type: 'open', worker: '/srv/t.js', init: bytes(), settings: { maxJobsPerSlot: 3 }, code: bytes(0x65, 0x78) },
    { type: 'open', worker: '/srv/t.js', init: bytes(), settings: {}, addrs: ['/ip4/10.0.0.9/tcp/4100/p2p/12D3KooWc'] },
    { type: 'submit', jobs: [] },
    {
      type: 'submit',
      jobs: [
        { id: 0, params: bytes(1) },
        { id: Number.MAX_SAFE_INTEGER, params: bytes() },
        { id: 3, params: bytes(2), timeoutMs: 1500 },
      ],
    },
    { type: 'cancel', ids: [4, 5] },
    { type: 'update', reqId: 5, value: bytes(9, 9) },
    { type: 'share', reqId: 6, value: bytes(7, 7) },
    { type: 'unshare', hashes: [HASH] },
    { type: 'stats', reqId: 6 },
    { type: 'watch', on: true },
    { type: 'revoke', reqId: 1, peerId: '12D3KooWx' },
    { type: 'nodes', reqId: 2 },
    { type: 'stopNodes', reqId: 3, nodeIds: ['12D3KooWx'] },
  ] satisfies ClientMessage[],
  node: [
    { type: 'welcome', nodeId: '12D3KooWnode' },
    { type: 'pool', pool: { poolId: 1, worker: 'sha256-abc', init: bytes(7), leaseMs: 3000 } },
    { type: 'pool', pool: { poolId: 3, worker: '/w.js', init: bytes(), leaseMs: 9, maxJobsPerSlot: 100 } },
    {
      type: 'pool',
      pool: {
        poolId: 4,
        worker: '/w.js',
        init: bytes(),
        leaseMs: 9,
        client: { peerId: '12D3KooWc', addrs: ['/ip4/10.0.0.9/tcp/4100/p2p/12D3KooWc'] },
      },
    },
    {
      type: 'pool',
      pool: {
        poolId: 2,
        worker: '/srv/t.js',
        init: bytes(),
        leaseMs: 3000,
        codeHash: 'abababababababababababababababababababababababababababababababab',
      },
    },
    { type: 'lease', jobs: [] },
    {
      type: 'lease',
      jobs: [
        { jobId: 1, leaseId: 2, poolId: 3, attempt: 1, updateSeq: 0, timeoutMs: 0, params: bytes(4) },
        {
          jobId: 5,
          leaseId: 6,
          poolId: 7,
          attempt: 3,
          updateSeq: 12,
          timeoutMs: 250,
          params: new Uint8Array(1000).fill(255),
        },
      ],
    },
    { type: 'updates', entries: [] },
    { type: 'updates', entries: [{ poolId: 1, seq: 2, value: bytes(3) }] },
    { type: 'updates', entries: [{ poolId: 1, seq: 9, value: bytes(3) }], dropped: { poolId: 1, through: 8 } },
    { type: 'updates', entries: [], announced: [{ poolId: 1, seq: 10 }] },
    {
      type: 'updates',
      entries: [],
      announced: [{ poolId: 1, seq: 11, hash: 'abababababababababababababababababababababababababababababababab' }],
    },
    { type: 'peers', peers: [] },
    { type: 'revoked', peerIds: ['12D3KooWx'] },
    { type: 'allowed', peerIds: ['12D3KooWx', '12D3KooWy'] },
    { type: 'refused', message: 'not in the allow list' },
    { type: 'stop' },
    { type: 'peers', peers: [{ peerId: '12D3KooWx', addrs: ['/ip4/10.0.0.7/tcp/4001'] }] },
    { type: 'cancel', jobIds: [9] },
    { type: 'cancel', jobIds: [], closedPools: [3] },
    { type: 'cancel', jobIds: [], unshared: [HASH] },
    { type: 'seqs', seqs: [] },
    { type: 'seqs', seqs: [{ poolId: 1, seq: 12 }] },
    { type: 'standby' },
    { type: 'standby', active: '/ip4/10.0.0.5/tcp/8899/p2p/12D3KooWx' },
  ] satisfies HeadToNodeMessage[],
  client: [
    { type: 'opened', poolId: 4 },
    {
      type: 'results',
      results: [
        { id: 1, ok: true, value: bytes(1) },
        { id: 2, ok: false, error: { name: 'RemoteJobError', message: 'x' }, where: 'node-a' },
        { id: 3, ok: false, error: { name: 'WorkerLostError', message: 'lost', stack: 's' } },
      ],
    },
    { type: 'results', results: [], room: 25_600 },
    { type: 'updated', reqId: 1, seq: 9 },
    { type: 'shared', reqId: 2, hash: HASH },
    { type: 'shared', reqId: 3, refused: 'too big' },
    { type: 'stats', reqId: 2, workers: 16, nodes: 2 },
    { type: 'refused', message: 'wrong protocol version' },
    { type: 'output', lines: ['[node-a/1] hello'] },
    { type: 'progress', progress: [{ id: 7, fraction: 0.5 }] },
    { type: 'revoked', reqId: 3, peerId: '12D3KooWx', known: true },
    { type: 'nodes', reqId: 4, nodes: [], queued: 0, leased: 0 },
    {
      type: 'nodes',
      reqId: 5,
      queued: 10,
      leased: 2,
      nodes: [
        {
          nodeId: '12D3KooWx',
          name: 'box',
          addrs: ['/ip4/10.0.0.7/tcp/4001'],
          slots: [{ index: 0, state: 'busy', gpu: { index: 0, name: 'H100', memoryMB: 81559 } }],
          done: 5,
          failed: 1,
          joinedAt: 1_700_000_000_000,
          lastHeartbeat: 1_700_000_001_000,
        },
      ],
    },
    { type: 'stopping', reqId: 6, nodeIds: [] },
    { type: 'standby' },
    { type: 'standby', active: '/ip4/10.0.0.5/tcp/8899/p2p/12D3KooWx' },
  ] satisfies HeadToClientMessage[],
  'head.heads': [
    {
      type: 'state',
      term: 2,
      active: true,
      since: 1_700_000_000_000,
      takeovers: 1,
      addrs: [],
      nodes: 14,
      proof: new Uint8Array(32),
    },
    {
      type: 'state',
      term: 0,
      active: false,
      since: 1_700_000_000_000,
      takeovers: 0,
      addrs: ['/ip4/10.0.0.6/tcp/8899/p2p/12D3KooWy'],
      nodes: 0,
      proof: new Uint8Array(32).fill(7),
    },
  ] satisfies HeadsMessage[],
  'head.code': [
    { type: 'fetch', hash: 'abababababababababababababababababababababababababababababababab' },
  ] satisfies CodeRequest[],
  codeReply: [
    { type: 'code', hash: 'abababababababababababababababababababababababababababababababab', code: bytes(1) },
    { type: 'code', hash: 'abababababababababababababababababababababababababababababababab' },
  ] satisfies CodeReply[],
  blobRequest: [
    { type: 'fetch', hash: 'abababababababababababababababababababababababababababababababab' },
    { type: 'fetch', hash: 'abababababababababababababababababababababababababababababababab', direct: true },
    { type: 'have', hash: 'abababababababababababababababababababababababababababababababab' },
  ] satisfies BlobRequest[],
  blobReply: [
    { type: 'blob', hash: 'abababababababababababababababababababababababababababababababab', data: bytes(1, 2) },
    { type: 'blob', hash: 'abababababababababababababababababababababababababababababababab' },
    {
      type: 'elsewhere',
      hash: 'abababababababababababababababababababababababababababababababab',
      peers: [{ peerId: '12D3KooWy', addrs: [] }],
    },
  ] satisfies BlobReply[],
  relayRequest: [
    { type: 'fetch', hash: HASH, poolId: 7 },
    { type: 'push', poolId: 7 },
  ] satisfies RelayRequest[],
  resultPart: [
    { type: 'result', hash: HASH, data: bytes(1, 2) },
    { type: 'result', hash: HASH, data: bytes(3), offset: 2, total: 3 },
  ] satisfies ResultPart[],
  resultAck: [
    { type: 'got', hash: HASH },
    { type: 'refused', hash: HASH, message: 'this client has no open job' },
  ] satisfies ResultAck[],
}

const sides = {
  'head.work': inbound.head.work,
  'head.client': inbound.head.client,
  node: inbound.node,
  client: inbound.client,
  'head.code': inbound.head.code,
  'head.heads': inbound.head.heads,
  codeReply: inbound.codeReply,
  blobRequest: inbound.blobRequest,
  blobReply: inbound.blobReply,
  relayRequest: inbound.relayRequest,
  resultPart: inbound.resultPart,
  resultAck: inbound.resultAck,
}
type Side = keyof typeof sides
const sideNames = Object.keys(sides) as Side[]

/** Decodes `frame` and returns what it threw, or undefined if it decoded. */
function decodeError(frame: Uint8Array, side: Side, maxBytes?: number): unknown {
  try {
    decodeFrame(frame, sides[side], maxBytes)
    return undefined
  } catch (err) {
    return err
  }
}

function expectFrameError(frame: Uint8Array, side: Side): void {
  const err = decodeError(frame, side)
  expect(err).toBeInstanceOf(FrameError)
  expect((err as Error).name).toBe('FrameError')
}

/** A small seeded PRNG (mulberry32), so a failing fuzz case can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** Bytes may arrive as a Buffer (a Uint8Array): compare them as plain Uint8Arrays. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return new Uint8Array(value)
  if (Array.isArray(value)) return value.map(plain)
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]))
  }
  return value
}

const roundTrip = (message: object, side: Side): unknown => plain(decodeFrame(encodeFrame(message), sides[side]))

describe('frame round trip', () => {
  for (const side of sideNames) {
    it.each(samples[side].map((m, i) => [`${m.type} (sample ${i})`, m] as const))(`${side}: %s`, (_, message) => {
      expect(roundTrip(message, side)).toStrictEqual(message)
    })
  }

  it('covers every message type each side accepts', () => {
    for (const side of sideNames) {
      const sent = new Set(samples[side].map((m) => m.type))
      expect([...sent].sort()).toStrictEqual(Object.keys(sides[side]).sort())
    }
  })

  it('a message for one side is refused by a side that does not accept its type', () => {
    expectFrameError(encodeFrame({ type: 'hello', name: 'n', slots: 1 }), 'client')
    expectFrameError(encodeFrame({ type: 'submit', jobs: [] }), 'head.work')
    expectFrameError(encodeFrame({ type: 'welcome', nodeId: 'x' }), 'head.client')
  })

  it('bytes arrive as bytes', () => {
    const message = decodeFrame<Extract<ClientMessage, { type: 'update' }>>(
      encodeFrame({ type: 'update', reqId: 1, value: bytes(1, 2, 3) }),
      inbound.head.client,
    )
    expect(message.value).toBeInstanceOf(Uint8Array)
    expect([...message.value]).toStrictEqual([1, 2, 3])
  })
})

describe('frame size limit', () => {
  const big = { type: 'update', reqId: 1, value: new Uint8Array(2000) }

  it('encodeFrame refuses a frame over maxBytes, naming the sizes', () => {
    expect(() => encodeFrame(big, 1000)).toThrow(FrameError)
    expect(() => encodeFrame(big, 1000)).toThrow(/over the limit of 1000 bytes/)
    expect(encodeFrame(big, 4096).byteLength).toBeGreaterThan(2000)
  })

  it('decodeFrame refuses a frame over maxBytes before decoding it', () => {
    const frame = encodeFrame(big)
    const err = decodeError(frame, 'head.client', 1000)
    expect(err).toBeInstanceOf(FrameError)
    expect((err as Error).message).toMatch(/over the limit of 1000 bytes/)
    expect(decodeError(frame, 'head.client', frame.byteLength)).toBeUndefined()
  })
})

describe('malformed frames give FrameError', () => {
  it.each([
    ['empty', bytes()],
    ['a lone break byte', bytes(0xff)],
    ['a reserved initial byte', bytes(0x1c)],
    ['a map cut short', bytes(0xa2, 0x64, 0x74, 0x79)],
    ['a string longer than the frame', bytes(0x7a, 0xff, 0xff, 0xff, 0xff, 0x61)],
    ['an array claiming 2^32 items', bytes(0x9a, 0xff, 0xff, 0xff, 0xff, 0x00)],
    ['bytes claiming 2^64 length', bytes(0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)],
    ['text', new TextEncoder().encode('{"type":"pull","n":1}')],
    ['a number', encodeFrame(42 as unknown as object)],
    ['a string', encodeFrame('pull' as unknown as object)],
    ['null', encodeFrame(null as unknown as object)],
    ['an array', encodeFrame(['pull', 1])],
    ['bytes', encodeFrame(bytes(1, 2))],
    ['a valid frame with trailing bytes', new Uint8Array([...encodeFrame({ type: 'pull', n: 1 }), 0x00])],
  ])('%s', (_, frame) => {
    for (const side of sideNames) expectFrameError(frame, side)
  })

  it('every truncation of every valid frame', () => {
    for (const side of sideNames) {
      for (const message of samples[side]) {
        const frame = encodeFrame(message)
        for (let end = 0; end < frame.byteLength; end++) expectFrameError(frame.subarray(0, end), side)
      }
    }
  })

  it('a missing, unknown or non-string type', () => {
    for (const frame of [
      { n: 1 },
      { type: 'nope', n: 1 },
      { type: '', n: 1 },
      { type: 1, n: 1 },
      { type: null },
      { type: ['pull'], n: 1 },
      { type: 'x'.repeat(5000) },
      // Names that exist on every object must not be taken for message types.
      { type: '__proto__' },
      { type: 'constructor' },
      { type: 'toString' },
      { type: 'hasOwnProperty' },
    ]) {
      for (const side of sideNames) expectFrameError(encodeFrame(frame), side)
    }
  })

  /** Frames that are CBOR maps with a known type but the wrong fields, per side. */
  const confused: Record<Side, object[]> = {
    'head.work': [
      { type: 'hello', slots: 1 },
      { type: 'hello', name: 'n' },
      { type: 'hello', name: 1, slots: 1 },
      { type: 'hello', name: 'n', slots: '1' },
      { type: 'hello', name: 'n', slots: -1 },
      { type: 'hello', name: 'n', slots: 1.5 },
      { type: 'hello', name: 'n', slots: Number.NaN },
      { type: 'hello', name: 'n', slots: Number.POSITIVE_INFINITY },
      { type: 'hello', name: 'n', slots: 2 ** 60 },
      { type: 'hello', name: 'n', slots: 5n },
      { type: 'hello', name: 'x'.repeat(4097), slots: 1 },
      { type: 'hello', name: 'n', slots: 1, addrs: '/ip4/1.2.3.4/tcp/1' },
      { type: 'hello', name: 'n', slots: 1, addrs: [7] },
      { type: 'loadFailed', poolId: 1 },
      { type: 'loadFailed', poolId: 1, error: 'boom' },
      { type: 'output', poolId: 1, lines: [1] },
      { type: 'progress', progress: [{ jobId: 1, leaseId: 1, fraction: -0.1 }] },
      { type: 'progress', progress: [{ jobId: 1, fraction: 0.5 }] },
      { type: 'pull' },
      { type: 'pull', n: null },
      { type: 'pull', n: true },
      { type: 'pull', n: [1] },
      { type: 'results' },
      { type: 'results', results: {} },
      { type: 'results', results: 'x' },
      { type: 'results', results: [null] },
      { type: 'results', results: [1] },
      { type: 'results', results: [{ jobId: 1, leaseId: 1, ok: true }] },
      { type: 'results', results: [{ jobId: 1, leaseId: 1, ok: true, value: 'bytes' }] },
      { type: 'results', results: [{ jobId: 1, leaseId: 1, ok: true, value: [1, 2] }] },
      { type: 'results', results: [{ jobId: 1, leaseId: 1, ok: 'true', value: bytes() }] },
      { type: 'results', results: [{ jobId: 1, leaseId: 1, value: bytes() }] },
      { type: 'results', results: [{ jobId: -1, leaseId: 1, ok: true, value: bytes() }] },
      { type: 'results', results: [{ jobId: 1, ok: true, value: bytes() }] },
      { type: 'results', results: [{ jobId: '1', leaseId: 1, ok: true, value: bytes() }] },
      { type: 'results', results: [{ jobId: 1, leaseId: 1, ok: false }] },
      { type: 'results', results: [{ jobId: 1, leaseId: 1, ok: false, error: 'boom' }] },
      { type: 'results', results: [{ jobId: 1, leaseId: 1, ok: false, error: { name: 'E' } }] },
      { type: 'results', results: [{ jobId: 1, leaseId: 1, ok: false, error: { message: 'm' } }] },
      { type: 'results', results: [{ jobId: 1, leaseId: 1, ok: false, error: { name: 'E', message: 'm', stack: 1 } }] },
      { type: 'results', results: [{ jobId: 1, leaseId: 1, ok: false, error: { name: 'E', message: 'm' }, lost: 1 }] },
      {
        type: 'results',
        results: [
          { jobId: 1, leaseId: 1, ok: true, value: bytes() },
          { jobId: 2, leaseId: 2, ok: true, value: null },
        ],
      },
      { type: 'catchup', poolId: 1 },
      { type: 'catchup', poolId: -3, from: 0 },
    ],
    'head.client': [
      { type: 'open', worker: 'w' },
      { type: 'open', worker: 'w', init: 'not bytes' },
      { type: 'open', worker: 'w', init: [1, 2] },
      { type: 'open', worker: 7, init: bytes() },
      { type: 'submit' },
      { type: 'submit', jobs: [{ id: 1 }] },
      { type: 'submit', jobs: [{ id: 1, params: 'abc' }] },
      { type: 'submit', jobs: [{ id: 1, params: { 0: 1 } }] },
      { type: 'submit', jobs: [{ id: 1, params: 12 }] },
      { type: 'submit', jobs: [{ id: -1, params: bytes() }] },
      { type: 'submit', jobs: [{ id: 0.5, params: bytes() }] },
      { type: 'submit', jobs: [{ id: '1', params: bytes() }] },
      { type: 'submit', jobs: [{ params: bytes() }] },
      { type: 'submit', jobs: [[1, bytes()]] },
      { type: 'update', reqId: 1 },
      { type: 'update', reqId: 1, value: 'v' },
      { type: 'update', value: bytes() },
      { type: 'share', reqId: 1 },
      { type: 'unshare', hashes: ['not-a-hash'] },
      { type: 'stats' },
      { type: 'stats', reqId: -1 },
    ],
    node: [
      { type: 'welcome' },
      { type: 'welcome', nodeId: 5 },
      { type: 'pool' },
      { type: 'pool', pool: null },
      { type: 'pool', pool: bytes() },
      { type: 'pool', pool: { poolId: 1, worker: 'w' } },
      { type: 'pool', pool: { poolId: 1, worker: 'w', init: 'i' } },
      { type: 'lease', jobs: null },
      { type: 'lease', jobs: [{ jobId: 1, leaseId: 2, poolId: 3, attempt: 1, updateSeq: 0 }] },
      { type: 'lease', jobs: [{ jobId: 1, leaseId: 2, poolId: 3, attempt: 1, updateSeq: 0, params: 'p' }] },
      { type: 'lease', jobs: [{ jobId: 1, leaseId: -2, poolId: 3, attempt: 1, updateSeq: 0, params: bytes() }] },
      { type: 'lease', jobs: [{ jobId: 1, leaseId: 2, poolId: 3, attempt: '1', updateSeq: 0, params: bytes() }] },
      { type: 'updates', entries: [{ poolId: 1, seq: 1 }] },
      { type: 'updates', entries: [{ poolId: 1, seq: -1, value: bytes() }] },
    ],
    client: [
      { type: 'opened' },
      { type: 'opened', poolId: 'p' },
      { type: 'results', results: [{ id: 1, ok: true, value: 'v' }] },
      { type: 'results', results: [{ id: 1, ok: false, error: { name: 'E', message: 'm' }, where: 3 }] },
      { type: 'results', results: [{ id: -1, ok: true, value: bytes() }] },
      { type: 'results', results: [], room: -1 },
      { type: 'results', results: [], room: 0.5 },
      { type: 'updated', reqId: 1 },
      { type: 'shared', reqId: 1, hash: 'x' },
      { type: 'stats', reqId: 1, workers: 1 },
      { type: 'stats', reqId: 1, workers: -1, nodes: 1 },
      { type: 'refused' },
      { type: 'refused', message: null },
      { type: 'output', lines: 'x' },
      { type: 'output', lines: ['y'.repeat(4097)] },
      { type: 'progress', progress: [{ id: 1, fraction: 1.5 }] },
      { type: 'progress', progress: [{ id: 1, fraction: Number.NaN }] },
    ],
    'head.heads': [
      { type: 'state' },
      { type: 'state', term: 1, active: true, since: 0, takeovers: 0, addrs: [] },
      { type: 'state', term: -1, active: true, since: 0, takeovers: 0, addrs: [], nodes: 0, proof: bytes() },
      { type: 'state', term: 1, active: 'yes', since: 0, takeovers: 0, addrs: [], nodes: 0, proof: new Uint8Array(32) },
      { type: 'state', term: 1, active: true, since: 0, takeovers: 0, addrs: [], nodes: 0, proof: new Uint8Array(31) },
      {
        type: 'state',
        term: 1,
        active: true,
        since: 0,
        takeovers: 0,
        addrs: [],
        nodes: 0,
        proof: new Uint8Array(4096),
      },
      {
        type: 'state',
        term: 1,
        active: true,
        since: 0,
        takeovers: 0,
        addrs: Array(33).fill('/ip4/1.2.3.4'),
        nodes: 0,
        proof: new Uint8Array(32),
      },
      { type: 'state', term: 1, active: true, since: 0, takeovers: 0, addrs: [7], nodes: 0, proof: new Uint8Array(32) },
      {
        type: 'state',
        term: 1,
        active: true,
        since: 0,
        takeovers: 0,
        addrs: [],
        nodes: 0,
        proof: new Uint8Array(32),
        extra: 1,
      },
      { type: 'state', term: 1, active: true, since: 0, takeovers: 0, addrs: [], nodes: -1, proof: new Uint8Array(32) },
      {
        type: 'state',
        term: 1,
        active: true,
        since: 0,
        takeovers: 0,
        addrs: [],
        nodes: 1.5,
        proof: new Uint8Array(32),
      },
      { type: 'state', term: 1, active: true, since: 0, takeovers: 0, addrs: [], proof: new Uint8Array(32) },
    ],
    'head.code': [
      { type: 'fetch' },
      { type: 'fetch', hash: 'AB'.repeat(32) },
      { type: 'fetch', hash: '../../etc/passwd' },
      { type: 'fetch', hash: 'ab'.repeat(33) },
    ],
    codeReply: [
      { type: 'code', hash: 'ab'.repeat(32), code: 'export default 1' },
      { type: 'code', code: bytes(1) },
    ],
    blobRequest: [
      { type: 'fetch' },
      { type: 'fetch', hash: 'ab'.repeat(32), direct: 'yes' },
      { type: 'have', hash: '../../etc/passwd' },
    ],
    blobReply: [
      { type: 'blob', hash: 'ab'.repeat(32), data: 'bytes' },
      { type: 'elsewhere', hash: 'ab'.repeat(32) },
      { type: 'elsewhere', hash: 'ab'.repeat(32), peers: [{ peerId: 'p' }] },
      {
        type: 'elsewhere',
        hash: 'ab'.repeat(32),
        peers: [{ peerId: 'p', addrs: Array(33).fill('/ip4/1.2.3.4/tcp/1') }],
      },
    ],
    relayRequest: [
      { type: 'fetch', hash: HASH },
      { type: 'fetch', hash: '../../etc/passwd', poolId: 1 },
      { type: 'fetch', hash: HASH, poolId: -1 },
      { type: 'fetch', hash: HASH, poolId: 1, from: 'someone' },
      { type: 'push' },
    ],
    resultPart: [
      { type: 'result', hash: HASH },
      { type: 'result', hash: HASH, data: 'bytes' },
      { type: 'result', hash: HASH, data: bytes(1), offset: -1 },
    ],
    resultAck: [{ type: 'got' }, { type: 'refused', hash: HASH }],
  }

  for (const side of sideNames) {
    it.each(confused[side].map((m) => [JSON.stringify(m, (_, v) => (typeof v === 'bigint' ? `${v}n` : v)), m]))(
      `${side}: %s`,
      (_, message) => {
        expectFrameError(encodeFrame(message), side)
      },
    )
  }

  it("a cancel's closedPools must be pool ids", () => {
    const err = decodeError(encodeFrame({ type: 'cancel', jobIds: [], closedPools: ['3'] }), 'node')
    expect((err as Error).message).toContain('cancel.closedPools[0] should be a non-negative integer')
  })

  it('names the field that is wrong', () => {
    const err = decodeError(
      encodeFrame({
        type: 'lease',
        jobs: [{ jobId: 1, leaseId: 2, poolId: 3, attempt: 1, updateSeq: 0, timeoutMs: 0, params: 'p' }],
      }),
      'node',
    )
    expect((err as Error).message).toContain('lease.jobs[0].params should be bytes')
  })

  it('a list of exactly MAX_BATCH_ITEMS items is accepted, one more is not', () => {
    const jobs = Array.from({ length: MAX_BATCH_ITEMS }, (_, id) => ({ id, params: bytes() }))
    expect(decodeError(encodeFrame({ type: 'submit', jobs }), 'head.client')).toBeUndefined()
    jobs.push({ id: MAX_BATCH_ITEMS, params: bytes() })
    expectFrameError(encodeFrame({ type: 'submit', jobs }), 'head.client')
    expectFrameError(encodeFrame({ type: 'lease', jobs: new Array(MAX_BATCH_ITEMS + 1).fill(0) }), 'node')
    expectFrameError(encodeFrame({ type: 'results', results: new Array(MAX_BATCH_ITEMS + 1).fill(0) }), 'client')
  })
})

describe('fuzz: decodeFrame only ever throws FrameError', () => {
  /** Decodes on every side; fails the test with the frame's bytes if anything but a FrameError escapes. */
  function check(frame: Uint8Array): number {
    let decoded = 0
    for (const side of sideNames) {
      const err = decodeError(frame, side)
      if (err === undefined) decoded++
      else if (!(err instanceof FrameError)) {
        throw new Error(`${side} threw ${String(err)} for frame ${hex(frame)}`)
      }
    }
    return decoded
  }

  it('random bytes', () => {
    const random = prng(0x5eed)
    for (let i = 0; i < 3000; i++) {
      const frame = new Uint8Array(Math.floor(random() * 96))
      for (let j = 0; j < frame.length; j++) frame[j] = Math.floor(random() * 256)
      // A third start as a CBOR map, so the decoder gets past the first byte more often.
      if (i % 3 === 0 && frame.length > 0) frame[0] = 0xa0 | ((frame[0] as number) & 0x1f)
      check(frame)
    }
  })

  it('valid frames with random bytes changed, cut or appended', () => {
    const random = prng(42)
    const valid = sideNames.flatMap((side) => samples[side].map((m) => encodeFrame(m)))
    for (let i = 0; i < 3000; i++) {
      const source = valid[Math.floor(random() * valid.length)] as Uint8Array
      let frame = Uint8Array.from(source)
      const changes = 1 + Math.floor(random() * 4)
      for (let c = 0; c < changes; c++) frame[Math.floor(random() * frame.length)] = Math.floor(random() * 256)
      const cut = random()
      if (cut < 0.25) frame = frame.subarray(0, Math.floor(random() * frame.length))
      else if (cut < 0.35) frame = new Uint8Array([...frame, Math.floor(random() * 256)])
      check(frame)
    }
  })

  it('valid frames still decode after all that garbage', () => {
    for (const side of sideNames) {
      for (const message of samples[side]) expect(roundTrip(message, side)).toStrictEqual(message)
    }
  })
})

describe('a frame in pieces', () => {
  it('is the same frame, with a big byte string sent as the caller’s own bytes, not a copy', () => {
    const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251)
    const message = { type: 'blob', hash: HASH, data, offset: 0, total: data.byteLength }
    const pieces = encodeFramePieces(message)
    expect(pieces).toHaveLength(2)
    expect(pieces[1]).toBe(data)
    const joined = Buffer.concat(pieces)
    const decoded = decodeFrame<BlobReply & { data: Uint8Array }>(joined, inbound.blobReply)
    expect(decoded).toMatchObject({ type: 'blob', hash: HASH, offset: 0, total: data.byteLength })
    expect(Buffer.from(decoded.data).equals(Buffer.from(data))).toBe(true)
    expect(() => encodeFramePieces(message, 1024 * 1024)).toThrow(FrameError)
  })

  it('is one piece when nothing in it is big', () => {
    const message = { type: 'blob', hash: HASH, data: bytes(1, 2) }
    expect(encodeFramePieces(message)).toEqual([encodeFrame(message)])
  })
})

import {
  BLOB_PROTOCOL,
  CLIENT_PROTOCOL,
  CODE_PROTOCOL,
  encodeFrame,
  encodeValue,
  HEADS_PROTOCOL,
  RELAY_PROTOCOL,
  UPDATES_TOPIC,
  WORK_PROTOCOL,
} from '@meshpool/core'
import { createPeer, derivePoolKey, type MeshPeer } from '@meshpool/node'
import { multiaddr } from '@multiformats/multiaddr'
import { PASSWORD } from './harness.js'
import { prng } from './prng.js'

/** A seeded generator (the chaos driver's): a failing run replays with the same FUZZ_SEED. */
export function seeded(seed: number): () => number {
  const random = prng(seed)
  return () => random.next()
}

const H = 'ab'.repeat(32)
const bytes = (n: number, random: () => number): Uint8Array =>
  Uint8Array.from({ length: n }, () => Math.floor(random() * 256))

/** Well-formed messages of each protocol, as a member could send them: the seeds for the bad ones. */
function validMessages(random: () => number): Record<string, object[]> {
  const id = () => Math.floor(random() * 1e6)
  return {
    [WORK_PROTOCOL]: [
      { type: 'hello', name: 'fuzz', slots: 1 + Math.floor(random() * 4) },
      { type: 'pull', n: id() },
      { type: 'results', results: [{ jobId: id(), leaseId: id(), ok: true, value: encodeValue(id()) }] },
      { type: 'results', results: [{ jobId: id(), leaseId: id(), ok: false, error: { name: 'E', message: 'm' } }] },
      { type: 'catchup', poolId: 1 + Math.floor(random() * 3), from: 0 },
      { type: 'heartbeat' },
      { type: 'release', jobIds: [id(), id()] },
      { type: 'slots', slots: id() },
      { type: 'findPeers' },
      { type: 'loadFailed', poolId: 1, error: { name: 'WorkerLoadError', message: 'fuzz' } },
      { type: 'output', poolId: 1, lines: ['fuzz'] },
      { type: 'progress', progress: [{ jobId: id(), leaseId: id(), fraction: random() }] },
    ],
    [CLIENT_PROTOCOL]: [
      { type: 'stats', reqId: id() },
      { type: 'cancel', ids: [id()] },
      { type: 'watch', on: true },
      { type: 'update', reqId: id(), value: encodeValue({ fuzz: id() }) },
      { type: 'submit', jobs: [{ id: id(), params: encodeValue({ x: id() }) }] },
      { type: 'revoke', reqId: id(), peerId: 'not-a-peer-id' },
    ],
    [CODE_PROTOCOL]: [{ type: 'fetch', hash: H }],
    [BLOB_PROTOCOL]: [
      { type: 'fetch', hash: H },
      { type: 'fetch', hash: H, direct: true },
      { type: 'have', hash: H },
    ],
    [RELAY_PROTOCOL]: [
      { type: 'fetch', hash: H, poolId: id() },
      { type: 'push', poolId: id() },
    ],
  }
}

/**
 * What a member without the admin key could say as a head (its proof can't be right). Apart
 * from validMessages, so that the seeded writes of the other protocols stay as they were.
 */
function headsMessages(random: () => number): object[] {
  const id = () => Math.floor(random() * 1e6)
  return [
    {
      type: 'state',
      term: id(),
      active: true,
      since: id(),
      takeovers: id(),
      addrs: [],
      nodes: id(),
      proof: bytes(32, random),
    },
    {
      type: 'state',
      term: 2 ** 50,
      active: true,
      since: 0,
      takeovers: 1,
      addrs: ['/ip4/127.0.0.1/tcp/1'],
      nodes: 0,
      proof: bytes(32, random),
    },
  ]
}

export function varint(n: number): Uint8Array {
  const out: number[] = []
  let v = n
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80)
    v = Math.floor(v / 128)
  }
  out.push(v)
  return Uint8Array.from(out)
}

const framed = (body: Uint8Array): Uint8Array => Buffer.concat([varint(body.byteLength), body])

/**
 * One hostile write: random bytes; a valid frame cut short, with bytes changed or
 * with bytes appended; a frame whose length prefix claims far more than the limit;
 * CBOR with a known type and fields of the wrong kind; or a valid message.
 */
export function hostileWrite(protocol: string, random: () => number): { kind: string; bytes: Uint8Array } {
  const valid = protocol === HEADS_PROTOCOL ? headsMessages(random) : (validMessages(random)[protocol] ?? [])
  const message = valid[Math.floor(random() * valid.length)] as Record<string, unknown>
  const body = encodeFrame(message)
  switch (Math.floor(random() * 7)) {
    case 0:
      return { kind: 'random', bytes: bytes(1 + Math.floor(random() * 300), random) }
    case 1:
      return { kind: 'truncated', bytes: framed(body).subarray(0, Math.floor(random() * (body.byteLength + 1))) }
    case 2: {
      const changed = Uint8Array.from(body)
      for (let i = 0; i < 1 + random() * 4; i++)
        changed[Math.floor(random() * changed.length)] = Math.floor(random() * 256)
      return { kind: 'changed', bytes: framed(changed) }
    }
    case 3:
      return { kind: 'appended', bytes: Buffer.concat([framed(body), bytes(1 + Math.floor(random() * 64), random)]) }
    case 4:
      return {
        kind: 'oversized',
        bytes: Buffer.concat([varint(2 ** 31 + Math.floor(random() * 1e6)), bytes(64, random)]),
      }
    case 5: {
      const confused: Record<string, unknown> = { ...message }
      const keys = Object.keys(confused).filter((k) => k !== 'type')
      const key = keys[Math.floor(random() * keys.length)]
      const wrong = [null, -1, 1.5, 'x', [], {}, new Uint8Array(2), 2 ** 60, true]
      if (key !== undefined) confused[key] = wrong[Math.floor(random() * wrong.length)]
      else confused.type = wrong[Math.floor(random() * wrong.length)]
      return { kind: 'type-confused', bytes: framed(encodeFrame(confused)) }
    }
    default:
      return { kind: 'valid', bytes: framed(body) }
  }
}

/** A peer that has the pool password of the head `headId` and uses it to send garbage. */
export async function hostilePeer(headId: string): Promise<MeshPeer> {
  return createPeer({ psk: derivePoolKey(PASSWORD, '', headId) })
}

/**
 * Opens a stream of `protocol` for each write (the head closes a stream at its
 * first bad frame), `concurrency` at a time. Returns how many writes were made
 * and how many streams the head refused to open.
 */
export async function fuzzProtocol(
  peer: MeshPeer,
  head: string,
  protocol: string,
  count: number,
  random: () => number,
  concurrency = 4,
): Promise<{ writes: number; refusedStreams: number; kinds: Record<string, number> }> {
  const target = multiaddr(head)
  let next = 0
  let refusedStreams = 0
  const kinds: Record<string, number> = {}
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++
      const write = hostileWrite(protocol, random)
      kinds[write.kind] = (kinds[write.kind] ?? 0) + 1
      try {
        const stream = await peer.dialProtocol(target, protocol, { signal: AbortSignal.timeout(5000) })
        stream.send(write.bytes)
        await stream.close({ signal: AbortSignal.timeout(2000) }).catch(() => stream.abort(new Error('done')))
      } catch {
        refusedStreams++
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { writes: count, refusedStreams, kinds }
}

/** Publishes garbage and forged updates on the updates topic: nodes must take updates from the head alone. */
export async function fuzzGossip(peer: MeshPeer, count: number, random: () => number): Promise<number> {
  const pubsub = peer.services.pubsub
  pubsub.subscribe(UPDATES_TOPIC)
  let published = 0
  for (let i = 0; i < count; i++) {
    const forged = encodeFrame({ type: 'updates', entries: [{ poolId: 1, seq: 1 + i, value: encodeValue({ i: -1 }) }] })
    const data = random() < 0.5 ? forged : bytes(1 + Math.floor(random() * 200), random)
    try {
      await pubsub.publish(UPDATES_TOPIC, data)
      published++
    } catch {}
  }
  return published
}

import { randomBytes } from 'node:crypto'
import { BLOB_PROTOCOL, type BlobReply, type BlobRequest, encodeFrame, inbound } from '@meshpool/core'
import * as varint from 'uint8-varint'
import { afterEach, describe, expect, it } from 'vitest'
import { StreamChannel } from '../src/net/channel.js'
import { serveFetches } from '../src/net/fetch-server.js'
import { createPeer, type MeshPeer } from '../src/net/peer.js'
import { swarmKey } from '../src/net/psk.js'
import { requestOnce } from '../src/net/request.js'

const peers: MeshPeer[] = []
afterEach(async () => {
  await Promise.all(peers.splice(0).map((peer) => peer.stop()))
})

async function pair(refuse = false, bytes = 1000): Promise<{ server: MeshPeer; client: MeshPeer }> {
  const psk = swarmKey(randomBytes(32))
  const server = await createPeer({ psk, listen: ['/ip4/127.0.0.1/tcp/0'] })
  const client = await createPeer({ psk })
  peers.push(server, client)
  const data = new Uint8Array(bytes).fill(7)
  await serveFetches<BlobRequest, BlobReply>(server, {
    protocol: BLOB_PROTOCOL,
    accepted: inbound.blobRequest,
    maxInboundStreams: 4,
    isFetch: (request) => request.type === 'fetch',
    refuse: () => refuse,
    open: (send) => ({
      message: (request) => {
        if (request.type === 'fetch') send({ type: 'blob', hash: request.hash, data })
      },
    }),
  })
  return { server, client }
}

describe('serveFetches', () => {
  it('answers a fetch on its stream', async () => {
    const { server, client } = await pair()
    const stream = await client.dialProtocol(server.getMultiaddrs(), BLOB_PROTOCOL)
    const channel = new StreamChannel<BlobReply, BlobRequest>(stream, inbound.blobReply)
    const got = await requestOnce(channel, {
      request: { type: 'fetch', hash: 'a'.repeat(64) },
      answer: (reply) => (reply.type === 'blob' ? reply.data?.byteLength : undefined),
      closedBefore: 'closed',
    })
    expect(got).toBe(1000)
  })

  it('cuts off a stream that asks again before reading the answer', async () => {
    // An answer bigger than the stream's window stays queued while the client reads nothing.
    const { server, client } = await pair(false, 16 * 1024 * 1024)
    const stream = await client.dialProtocol(server.getMultiaddrs(), BLOB_PROTOCOL)
    // Two fetches written at once, and nothing read: the server's first answer is still queued.
    const frame = (hash: string): Uint8Array => {
      const body = encodeFrame({ type: 'fetch', hash })
      return new Uint8Array([...varint.encode(body.byteLength), ...body])
    }
    stream.send(frame('a'.repeat(64)))
    stream.send(frame('b'.repeat(64)))
    const closed = await new Promise<boolean>((resolve) => {
      stream.addEventListener('close', () => resolve(true), { once: true })
      setTimeout(() => resolve(false), 4000).unref()
    })
    expect(closed).toBe(true)
  })

  it('refuses a stream to a refused peer', async () => {
    const { server, client } = await pair(true)
    const stream = await client.dialProtocol(server.getMultiaddrs(), BLOB_PROTOCOL)
    const channel = new StreamChannel<BlobReply, BlobRequest>(stream, inbound.blobReply)
    await expect(
      requestOnce(channel, {
        request: { type: 'fetch', hash: 'a'.repeat(64) },
        answer: (reply) => (reply.type === 'blob' ? reply.data : undefined),
        closedBefore: 'the server closed the stream',
      }),
    ).rejects.toThrow()
  })
})

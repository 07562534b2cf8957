import { randomBytes } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { ConnectionEncrypter, MessageStream, PeerId } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { byteStream, multiaddrConnectionPair } from '@libp2p/utils'
import { describe, expect, it } from 'vitest'
import { type PeerRefusal, poolKeyNoise, REFUSED_PEER, UNLISTED_PEER, WRONG_KEY } from '../src/net/pool-key-noise.js'

interface Side {
  peerId: PeerId
  encrypter: ConnectionEncrypter
}

async function side(secret: Uint8Array, refuse?: (peerId: string) => PeerRefusal | undefined): Promise<Side> {
  const privateKey = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(privateKey)
  const components = {
    peerId,
    privateKey,
    logger: defaultLogger(),
    upgrader: { getStreamMuxers: () => new Map() } as never,
  }
  return { peerId, encrypter: poolKeyNoise({ secret, ...(refuse === undefined ? {} : { refuse }) })(components) }
}

/** Dials `listener` from `dialer`, expecting the peer id `expected`; settles both ends. */
async function handshake(dialer: Side, listener: Side, expected: PeerId = listener.peerId) {
  const [outbound, inbound] = multiaddrConnectionPair()
  const signal = AbortSignal.timeout(5000)
  // As the upgrader does: a side whose handshake fails drops its connection.
  const [out, into] = await Promise.allSettled([
    dialer.encrypter
      .secureOutbound(outbound, { remotePeer: expected, signal, skipStreamMuxerNegotiation: true })
      .catch((err: Error) => {
        outbound.abort(err)
        throw err
      }),
    listener.encrypter.secureInbound(inbound, { signal, skipStreamMuxerNegotiation: true }).catch((err: Error) => {
      inbound.abort(err)
      throw err
    }),
  ])
  return { out, into }
}

const reason = (r: PromiseSettledResult<unknown>): string =>
  r.status === 'rejected' ? String((r.reason as Error)?.message ?? r.reason) : 'fulfilled'

describe('poolKeyNoise: Noise, then proof of the pool key', () => {
  it('with the same key: both sides know each other and bytes flow both ways', async () => {
    const key = randomBytes(32)
    const [a, b] = [await side(key), await side(key)]
    const { out, into } = await handshake(a, b)
    expect(out.status).toBe('fulfilled')
    expect(into.status).toBe('fulfilled')
    if (out.status !== 'fulfilled' || into.status !== 'fulfilled') return
    expect(out.value.remotePeer.toString()).toBe(b.peerId.toString())
    expect(into.value.remotePeer.toString()).toBe(a.peerId.toString())
    const reader = byteStream(into.value.connection as MessageStream)
    out.value.connection.send(new TextEncoder().encode('hello'))
    expect(new TextDecoder().decode((await reader.read({ bytes: 5 })).subarray())).toBe('hello')
  })

  it('with another key: the dialer is told the key is wrong at once, and the listener refuses it', async () => {
    const { out, into } = await handshake(await side(randomBytes(32)), await side(randomBytes(32)))
    expect(reason(out)).toContain(WRONG_KEY)
    expect(reason(into)).toMatch(/has another pool key/)
  })

  it('a refused (revoked) peer with the right key is told so, not that its key is wrong', async () => {
    const key = randomBytes(32)
    const dialer = await side(key)
    const listener = await side(key, (id) => (id === dialer.peerId.toString() ? 'revoked' : undefined))
    const { out } = await handshake(dialer, listener)
    expect(reason(out)).toContain(REFUSED_PEER)
  })

  it('a peer with the right key that is not on the allow-list is told that, not that it was revoked', async () => {
    const key = randomBytes(32)
    const dialer = await side(key)
    const listener = await side(key, (id) => (id === dialer.peerId.toString() ? 'unlisted' : undefined))
    const { out } = await handshake(dialer, listener)
    expect(reason(out)).toContain(UNLISTED_PEER)
  })

  it('sends no proof to a listener that is not the peer it dialed, even one that holds the key', async () => {
    const key = randomBytes(32)
    const dialer = await side(key)
    const impostor = await side(key)
    const expected = (await side(key)).peerId
    const { out, into } = await handshake(dialer, impostor, expected)
    expect(out.status).toBe('rejected')
    // Had the dialer sent its proof, the impostor (which has the key) would have accepted it.
    expect(into.status).toBe('rejected')
  })

  it('an outsider without the key gets nothing derived from it: a random nonce, one byte of refusal, the end', async () => {
    const listener = await side(randomBytes(32))
    const privateKey = await generateKeyPair('Ed25519')
    const plainNoise = noise()({
      peerId: peerIdFromPrivateKey(privateKey),
      privateKey,
      logger: defaultLogger(),
      upgrader: { getStreamMuxers: () => new Map() } as never,
    })
    const [outbound, inbound] = multiaddrConnectionPair()
    const refused = listener.encrypter.secureInbound(inbound, { skipStreamMuxerNegotiation: true })
    refused.catch(() => {})
    const secured = await plainNoise.secureOutbound(outbound, {
      remotePeer: listener.peerId,
      skipStreamMuxerNegotiation: true,
    })
    const bytes = byteStream(secured.connection)
    await bytes.write(randomBytes(64)) // a nonce and a made-up proof
    const nonce = (await bytes.read({ bytes: 32 })).subarray()
    const answer = (await bytes.read({ bytes: 1 })).subarray()
    expect(nonce).toHaveLength(32)
    expect([...answer]).toEqual([0]) // "wrong key", the same byte for every outsider
    expect(await bytes.read()).toBeNull() // and nothing after it
    await expect(refused).rejects.toThrow(/has another pool key/)
  })
})

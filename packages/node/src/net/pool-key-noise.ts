import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { type NoiseComponents, noise } from '@chainsafe/libp2p-noise'
import type {
  AbortOptions,
  ConnectionEncrypter,
  MessageStream,
  PeerId,
  SecureConnectionOptions,
  SecuredConnection,
} from '@libp2p/interface'
import { byteStream } from '@libp2p/utils'

/** The encrypter's protocol id: a peer of another version of this handshake is told apart at once. */
export const POOL_KEY_NOISE_PROTOCOL = '/meshpool/noise-poolkey/1.0.0'
const NONCE_BYTES = 32
const TAG_BYTES = 32
/** How long a refusing responder waits for its last byte to leave before it drops the connection. */
const REFUSAL_FLUSH_MS = 1000

/** The responder's answer to the initiator's proof (one byte, then its own proof when it is OK). */
const Answer = { wrongKey: 0, ok: 1, refusedPeer: 2, unlistedPeer: 3 } as const

/** Why a responder refuses a peer that holds the pool key. */
export type PeerRefusal = 'revoked' | 'unlisted'

/** Message prefixes that dialHead turns into errors for the user. */
export const WRONG_KEY = 'meshpool: the peer refused our pool key'
export const REFUSED_PEER = 'meshpool: the peer accepted our pool key but refuses this peer id'
export const UNLISTED_PEER = 'meshpool: the peer accepted our pool key but its --allow-peers list lacks this peer id'

export interface PoolKeyNoiseInit {
  /** The raw 32-byte pool secret. */
  secret: Uint8Array
  /** Peers a responder refuses even with the right key (revoked ones, or not on its allow-list), and why. */
  refuse?: (peerId: string) => PeerRefusal | undefined
  /** Called when a peer with the right key is refused. */
  onRefused?: (peerId: string, why: PeerRefusal) => void
}

/**
 * Noise, then proof of the pool key inside it: a connection encrypter.
 *
 * Noise first proves who each side is (the dialer knows the peer id it
 * expects from the address). Only then does the dialer prove that it holds
 * the pool key, with an HMAC over both peer ids and fresh nonces from both
 * sides, and only after checking that proof does the listener send its own.
 * So nothing derived from the key goes to a peer that has not proved its
 * identity (the dialer's side), nor to a peer that has not proved the key
 * (the listener's side): neither a fake head nor an outsider probing the
 * port gets anything to test password guesses against offline. A private
 * network (pnet) in front of Noise, which meshpool used before, answered
 * every connection with bytes encrypted under the key.
 */
export function poolKeyNoise(init: PoolKeyNoiseInit): (components: NoiseComponents) => ConnectionEncrypter {
  const makeNoise = noise()
  return (components) => new PoolKeyEncrypter(makeNoise(components), components.peerId, init)
}

class PoolKeyEncrypter implements ConnectionEncrypter {
  readonly protocol = POOL_KEY_NOISE_PROTOCOL
  readonly #noise: ConnectionEncrypter
  readonly #self: PeerId
  readonly #secret: Uint8Array
  readonly #refuse: (peerId: string) => PeerRefusal | undefined
  readonly #onRefused: (peerId: string, why: PeerRefusal) => void

  constructor(inner: ConnectionEncrypter, self: PeerId, init: PoolKeyNoiseInit) {
    this.#noise = inner
    this.#self = self
    this.#secret = init.secret
    this.#refuse = init.refuse ?? (() => undefined)
    this.#onRefused = init.onRefused ?? (() => {})
  }

  async secureOutbound(connection: MessageStream, options?: SecureConnectionOptions): Promise<SecuredConnection> {
    if (options?.remotePeer === undefined) {
      // Without an expected id, Noise proves only that the other side has *some* identity.
      throw new Error('meshpool dials peers by their id only (a /p2p/<peer id> address)')
    }
    const secured = await this.#noise.secureOutbound(connection, options)
    const bytes = byteStream(secured.connection)
    const mine = randomBytes(NONCE_BYTES)
    await bytes.write(mine, options)
    const theirs = (await bytes.read({ bytes: NONCE_BYTES, ...signalOf(options) })).subarray()
    const transcript = {
      initiator: this.#self,
      responder: secured.remotePeer,
      initiatorNonce: mine,
      responderNonce: theirs,
    }
    await bytes.write(this.#tag('initiator', transcript), options)
    const answer = (await bytes.read({ bytes: 1, ...signalOf(options) })).subarray()[0]
    if (answer === Answer.wrongKey) throw new Error(WRONG_KEY)
    if (answer === Answer.refusedPeer) throw new Error(REFUSED_PEER)
    if (answer === Answer.unlistedPeer) throw new Error(UNLISTED_PEER)
    const proof = (await bytes.read({ bytes: TAG_BYTES, ...signalOf(options) })).subarray()
    if (answer !== Answer.ok || !timingSafeEqual(proof, this.#tag('responder', transcript))) {
      throw new Error(`meshpool: ${secured.remotePeer.toString()} did not prove that it holds the pool key`)
    }
    return { ...secured, connection: bytes.unwrap() }
  }

  async secureInbound(connection: MessageStream, options?: SecureConnectionOptions): Promise<SecuredConnection> {
    const secured = await this.#noise.secureInbound(connection, options)
    const bytes = byteStream(secured.connection)
    const mine = randomBytes(NONCE_BYTES)
    await bytes.write(mine, options)
    const theirs = (await bytes.read({ bytes: NONCE_BYTES, ...signalOf(options) })).subarray()
    const proof = (await bytes.read({ bytes: TAG_BYTES, ...signalOf(options) })).subarray()
    const transcript = {
      initiator: secured.remotePeer,
      responder: this.#self,
      initiatorNonce: theirs,
      responderNonce: mine,
    }
    if (!timingSafeEqual(proof, this.#tag('initiator', transcript))) {
      await this.#refuseWith(bytes, secured.connection, Answer.wrongKey, options)
      throw new Error(`${secured.remotePeer.toString()} has another pool key`)
    }
    const refusal = this.#refuse(secured.remotePeer.toString())
    if (refusal !== undefined) {
      this.#onRefused(secured.remotePeer.toString(), refusal)
      const answer = refusal === 'revoked' ? Answer.refusedPeer : Answer.unlistedPeer
      await this.#refuseWith(bytes, secured.connection, answer, options)
      throw new Error(`${secured.remotePeer.toString()} is refused (${refusal})`)
    }
    await bytes.write(Buffer.concat([Buffer.of(Answer.ok), this.#tag('responder', transcript)]), options)
    return { ...secured, connection: bytes.unwrap() }
  }

  #tag(
    role: 'initiator' | 'responder',
    t: { initiator: PeerId; responder: PeerId; initiatorNonce: Uint8Array; responderNonce: Uint8Array },
  ): Buffer {
    return createHmac('sha256', this.#secret)
      .update(
        `${POOL_KEY_NOISE_PROTOCOL}\u0000${role}\u0000${t.initiator.toString()}\u0000${t.responder.toString()}\u0000`,
      )
      .update(t.initiatorNonce)
      .update(t.responderNonce)
      .digest()
  }

  /** Tells the dialer why (one byte, nothing derived from the key), and lets it leave before the drop. */
  async #refuseWith(
    bytes: ReturnType<typeof byteStream>,
    stream: MessageStream,
    answer: number,
    options: AbortOptions | undefined,
  ): Promise<void> {
    await bytes.write(Buffer.of(answer), options)
    bytes.unwrap()
    await Promise.race([
      stream.close().catch(() => {}),
      new Promise((resolve) => setTimeout(resolve, REFUSAL_FLUSH_MS).unref()),
    ])
  }
}

function signalOf(options: AbortOptions | undefined): AbortOptions {
  return options?.signal === undefined ? {} : { signal: options.signal }
}

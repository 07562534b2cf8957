import { randomBytes } from 'node:crypto'
import { Socket } from 'node:net'
import type { Stream } from '@libp2p/interface'
import {
  HandshakeRefusedError,
  HeadUnreachableError,
  InvalidOptionError,
  NodeRefusedError,
  NotAHeadError,
} from '@meshpool/core'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import xsalsa20 from 'xsalsa20'
import type { MeshPeer } from './peer.js'

/** Once the password is known to be right, a handshake this slow means a head in trouble. */
const DIAL_TIMEOUT_MS = 10_000
/** How long the probe waits for the head's answer. */
const PROBE_TIMEOUT_MS = 2500
/** A private-network peer opens every connection by sending a 24-byte nonce at once. */
const NONCE_BYTES = 24
/** The first message of libp2p's protocol negotiation; a head echoes it once it can read us. */
const MULTISTREAM_HEADER = Buffer.from('\x13/multistream/1.0.0\n', 'latin1')
/** Bytes sent after the header so that a head reading garbage (a wrong key) errs at once instead of waiting. */
const PADDING_BYTES = 4096

/** Parses a head address, with a message that shows the expected form. */
export function parseHeadAddress(address: string): Multiaddr {
  let ma: Multiaddr
  try {
    ma = multiaddr(address)
  } catch (err) {
    throw new InvalidOptionError(
      `the head address ${JSON.stringify(address)} is not a multiaddr (${(err as Error).message}); ` +
        'copy the one `meshpool head` prints, e.g. /ip4/10.0.0.5/tcp/8899/p2p/12D3KooW…',
    )
  }
  if (ma.getComponents().find((c) => c.name === 'p2p') === undefined) {
    throw new InvalidOptionError(
      `the head address ${address} has no /p2p/<peer id> part; copy the whole address \`meshpool head\` prints`,
    )
  }
  return ma
}

/**
 * Opens a protocol stream to the head, turning libp2p's failures into errors
 * that say what is wrong: nothing listening, not a meshpool head, or a wrong
 * password. libp2p's own dial with a wrong password sometimes hangs until its
 * timeout, so the password is checked first by a probe of our own (see
 * {@link probe}), which answers within milliseconds either way.
 */
export async function dialHead(peer: MeshPeer, address: string, protocol: string, secret: Uint8Array): Promise<Stream> {
  const ma = parseHeadAddress(address)
  const where = hostPort(ma)
  if (where !== undefined) await probe(where.host, where.port, address, secret)
  try {
    return await peer.dialProtocol(ma, protocol, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
  } catch (err) {
    const text = `${(err as Error)?.name ?? ''} ${(err as Error)?.message ?? String(err)}`
    if (/UnsupportedProtocol|protocol selection failed|negotiate/i.test(text)) {
      throw new NotAHeadError(
        `the peer at ${address} does not speak ${protocol}: it is not a meshpool head, or a head of an incompatible version`,
        { cause: err },
      )
    }
    if (/UnexpectedPeer|peer id|PeerId|does not match/i.test(text)) {
      throw new NotAHeadError(
        `the head at ${address} has another identity than the address's /p2p/ part (${text.trim()}); use the join command the head prints now`,
        { cause: err },
      )
    }
    if (/timeout|abort/i.test(text)) {
      throw new HeadUnreachableError(
        `the head at ${address} accepted the password but did not finish the handshake within ${DIAL_TIMEOUT_MS} ms; ` +
          'the head or this machine may be overloaded: try again',
        { cause: err },
      )
    }
    if (where !== undefined) {
      // The probe showed the password is right: the head refused this peer itself.
      throw new NodeRefusedError(
        `the head at ${address} accepted the password but refused this peer (${peer.peerId.toString()}): it was revoked (meshpool revoke) and stays refused; ask whoever runs the head`,
        { cause: err },
      )
    }
    throw new HandshakeRefusedError(
      `the head at ${address} refused the handshake (${text.trim()}); check that every peer has the same password`,
      { cause: err },
    )
  }
}

function hostPort(ma: Multiaddr): { host: string; port: number } | undefined {
  const components = ma.getComponents()
  const host = components.find((c) => ['ip4', 'ip6', 'dns4', 'dns6', 'dns'].includes(c.name))
  const port = components.find((c) => c.name === 'tcp')
  if (host?.value === undefined || port?.value === undefined) return undefined
  return { host: host.value, port: Number(port.value) }
}

const wrongPassword = (address: string): HandshakeRefusedError =>
  new HandshakeRefusedError(
    `the head at ${address} refused the handshake: the pool password is the likely cause. ` +
      'Give every peer the same password (MESHPOOL_PASSWORD or --password-file).',
  )

/**
 * Checks the address before libp2p dials it, over one plain TCP connection:
 * nothing listening (unreachable), a server that sends no private-network
 * nonce (not a head), or a head that cannot read us (a wrong password). The
 * last works like the private network itself: both sides send a nonce and
 * encrypt with the pool secret; a head that shares our secret answers our
 * protocol header with its own, which we can then decrypt.
 */
function probe(host: string, port: number, address: string, secret: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new Socket()
    const localNonce = randomBytes(NONCE_BYTES)
    let received = Buffer.alloc(0)
    let settled = false
    const finish = (err?: Error): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (err === undefined) resolve()
      else reject(err)
    }
    const timer = setTimeout(() => {
      if (socket.connecting) {
        finish(
          new HeadUnreachableError(
            `no answer from ${host}:${port} within ${PROBE_TIMEOUT_MS} ms: is the head running, and the port open on its firewall?`,
          ),
        )
      } else if (received.length < NONCE_BYTES) {
        finish(
          new NotAHeadError(
            `${host}:${port} accepts connections but is not a meshpool head (it did not start a handshake); check the address`,
          ),
        )
      } else {
        finish(wrongPassword(address))
      }
    }, PROBE_TIMEOUT_MS)
    socket.on('connect', () => {
      const outbound = xsalsa20(localNonce, secret)
      socket.write(localNonce)
      socket.write(outbound.update(Buffer.concat([MULTISTREAM_HEADER, Buffer.alloc(PADDING_BYTES)])))
    })
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      if (received.length >= 4 && /^(HTTP|SSH-|220 |\* OK|\+OK)/.test(received.subarray(0, 4).toString('latin1'))) {
        return finish(
          new NotAHeadError(
            `${host}:${port} is not a meshpool head (it greets with ${JSON.stringify(received.subarray(0, 16).toString('latin1'))}); check the address`,
          ),
        )
      }
      if (received.length < NONCE_BYTES + MULTISTREAM_HEADER.length) return
      const inbound = xsalsa20(received.subarray(0, NONCE_BYTES), secret)
      const answer = Buffer.from(
        inbound.update(received.subarray(NONCE_BYTES, NONCE_BYTES + MULTISTREAM_HEADER.length)),
      )
      finish(answer.equals(MULTISTREAM_HEADER) ? undefined : wrongPassword(address))
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (received.length >= NONCE_BYTES) return finish(wrongPassword(address))
      if (
        received.length > 0 ||
        !['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN'].includes(err.code ?? '')
      ) {
        return finish(
          new NotAHeadError(
            `${host}:${port} broke the connection without a handshake (${err.code ?? err.message}): it is not a meshpool head`,
          ),
        )
      }
      finish(
        new HeadUnreachableError(
          `can't reach the head at ${address} (${err.code ?? err.message}): is \`meshpool head\` running there, and the port open?`,
        ),
      )
    })
    socket.on('close', () => {
      if (received.length >= NONCE_BYTES) finish(wrongPassword(address))
      else
        finish(
          new NotAHeadError(`${host}:${port} closed the connection without a handshake: it is not a meshpool head`),
        )
    })
    socket.connect(port, host)
  })
}

import { Socket } from 'node:net'
import { HandshakeRefusedError, HeadUnreachableError, InvalidOptionError, NotAHeadError } from '@meshpool/core'
import type { Stream } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { MeshPeer } from './peer.js'

/**
 * A wrong password sometimes makes libp2p's dial hang instead of failing. The
 * head has just answered the probe, so a right password finishes the handshake
 * within a few round trips: past this many probe times (at least 1 s, at most
 * 5 s) the handshake counts as refused.
 */
const HANDSHAKE_PROBE_MULTIPLE = 20
const HANDSHAKE_MIN_MS = 1000
const HANDSHAKE_MAX_MS = 5000
/** A meshpool head opens every connection by sending a 24-byte nonce at once. */
const NONCE_BYTES = 24
const PROBE_TIMEOUT_MS = 1500

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
 * that say what is wrong: nothing listening, not a meshpool head, or a refused
 * handshake (a wrong password), each within a few seconds.
 */
export async function dialHead(peer: MeshPeer, address: string, protocol: string): Promise<Stream> {
  const ma = parseHeadAddress(address)
  const where = hostPort(ma)
  const probeMs = where === undefined ? HANDSHAKE_MAX_MS : await probe(where.host, where.port, address)
  const timeoutMs = Math.min(HANDSHAKE_MAX_MS, Math.max(HANDSHAKE_MIN_MS, probeMs * HANDSHAKE_PROBE_MULTIPLE))
  try {
    return await peer.dialProtocol(ma, protocol, { signal: AbortSignal.timeout(timeoutMs) })
  } catch (err) {
    const text = `${(err as Error)?.name ?? ''} ${(err as Error)?.message ?? String(err)}`
    if (/protocol|UnsupportedProtocol/i.test(text) && !/handshake|encrypt/i.test(text)) {
      throw new NotAHeadError(
        `the peer at ${address} does not speak ${protocol}: it is not a meshpool head, or a head of an incompatible version`,
      )
    }
    if (/peer id|PeerId|does not match|Unexpected/i.test(text) && !/ECONNRESET|timeout|abort/i.test(text)) {
      throw new NotAHeadError(
        `the head at ${address} has another identity than the address's /p2p/ part (${text.trim()}); ` +
          'use the join command the head prints now',
      )
    }
    throw new HandshakeRefusedError(
      `the head at ${address} refused the handshake: the pool password is the likely cause. ` +
        'Give every peer the same password (MESHPOOL_PASSWORD or --password-file).',
    )
  }
}

function hostPort(ma: Multiaddr): { host: string; port: number } | undefined {
  const components = ma.getComponents()
  const host = components.find((c) => c.name === 'ip4' || c.name === 'ip6' || c.name === 'dns4' || c.name === 'dns6' || c.name === 'dns')
  const port = components.find((c) => c.name === 'tcp')
  if (host?.value === undefined || port?.value === undefined) return undefined
  return { host: host.value, port: Number(port.value) }
}

/**
 * Tells "nothing listens there" and "that is no meshpool head" apart before
 * libp2p dials: a head's private network sends its nonce the moment a TCP
 * connection opens, while other servers stay silent or greet with text.
 */
function probe(host: string, port: number, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const socket = new Socket()
    let received = Buffer.alloc(0)
    const finish = (err?: Error): void => {
      clearTimeout(timer)
      socket.destroy()
      if (err === undefined) resolve(performance.now() - started)
      else reject(err)
    }
    const timer = setTimeout(() => {
      finish(
        socket.connecting
          ? new HeadUnreachableError(`no answer from ${host}:${port} within ${PROBE_TIMEOUT_MS} ms: is the head running, and the port open on its firewall?`)
          : new NotAHeadError(`${host}:${port} accepts connections but is not a meshpool head (it did not start a handshake); check the address`),
      )
    }, PROBE_TIMEOUT_MS)
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      if (received.length < NONCE_BYTES) return
      const text = received.subarray(0, 4).toString('latin1')
      if (/^(HTTP|SSH-|220 |\* OK|\+OK)/.test(text)) {
        return finish(new NotAHeadError(`${host}:${port} is not a meshpool head (it greets with ${JSON.stringify(received.subarray(0, 16).toString('latin1'))}); check the address`))
      }
      finish()
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (received.length >= NONCE_BYTES) return finish()
      finish(
        new HeadUnreachableError(
          `can't reach the head at ${address} (${err.code ?? err.message}): is \`meshpool head\` running there, and the port open?`,
        ),
      )
    })
    socket.on('close', () => {
      if (received.length < NONCE_BYTES) {
        finish(new NotAHeadError(`${host}:${port} closed the connection without a handshake: it is not a meshpool head`))
      }
    })
    socket.connect(port, host)
  })
}

import { Socket } from 'node:net'
import type { Stream } from '@libp2p/interface'
import {
  HandshakeRefusedError,
  HeadUnreachableError,
  InvalidOptionError,
  NodeRefusedError,
  NotAHeadError,
  WORK_PROTOCOL,
} from '@meshpool/core'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { DialingPeer } from './peer.js'
import { POOL_KEY_NOISE_PROTOCOL, REFUSED_PEER, UNLISTED_PEER, WRONG_KEY } from './pool-key-noise.js'

/** A head that speaks our handshake (the probe saw it) and takes this long is in trouble. */
const DIAL_TIMEOUT_MS = 10_000
/** How long the probe waits for the head's answer. */
const PROBE_TIMEOUT_MS = 2500

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

/** The head's peer id, from its address's /p2p/ part (it salts the pool key). */
export function headIdOf(address: string): string {
  return parseHeadAddress(address)
    .getComponents()
    .find((c) => c.name === 'p2p')?.value as string
}

/**
 * Opens a protocol stream to the head, turning libp2p's failures into errors
 * that say what is wrong: nothing listening or not a meshpool head (a probe
 * of our own finds these first, see {@link probe}), a wrong password, or a
 * refused peer (the handshake's answer, see poolKeyNoise).
 * `_secret` is unused: the peer holds the key. (Kept while callers pass it.)
 */
export async function dialHead(
  peer: DialingPeer,
  address: string,
  protocol: string,
  _secret?: Uint8Array,
): Promise<Stream> {
  const ma = parseHeadAddress(address)
  const where = hostPort(ma)
  if (where !== undefined) await probe(where.host, where.port)
  try {
    return await peer.dialProtocol(ma, protocol, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
  } catch (err) {
    const text = `${(err as Error)?.name ?? ''} ${(err as Error)?.message ?? String(err)}`
    if (text.includes(WRONG_KEY)) throw wrongPassword(address)
    if (text.includes(UNLISTED_PEER)) {
      const who = protocol === WORK_PROTOCOL ? 'node' : 'client'
      const how =
        protocol === WORK_PROTOCOL
          ? 'join'
          : 'connect (a client keeps its identity in createPool({ identityFile }), MESHPOOL_CLIENT_KEY_FILE or ~/.meshpool/client.key)'
      throw new NodeRefusedError(
        `the head at ${address} refused this peer: ${who} ${peer.peerId.toString()} is not in the head's --allow-peers list; add its peer id there to let it ${how}`,
        { cause: err },
      )
    }
    if (text.includes(REFUSED_PEER)) {
      throw new NodeRefusedError(
        `the head at ${address} accepted the password but refused this peer (${peer.peerId.toString()}): it was revoked (meshpool revoke); ask whoever runs the head`,
        { cause: err },
      )
    }
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
        `the head at ${address} did not finish the handshake within ${DIAL_TIMEOUT_MS} ms; ` +
          'the head or this machine may be overloaded: try again',
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

/** One multistream-select message: its length as a varint (all ours are under 128 bytes), the text, a newline. */
function mssMessage(text: string): Buffer {
  const body = Buffer.from(`${text}\n`, 'latin1')
  return Buffer.concat([Buffer.of(body.length), body])
}

const MSS_HEADER = mssMessage('/multistream/1.0.0')
const MSS_PROPOSAL = mssMessage(POOL_KEY_NOISE_PROTOCOL)
const MSS_NA = mssMessage('na')

/**
 * What the probe makes of the bytes received so far: a head (it took our
 * handshake's protocol), an error saying what else listens there, or 'wait'
 * for more.
 */
function readProbeAnswer(received: Buffer, where: string): 'head' | 'wait' | NotAHeadError {
  const head = received.subarray(0, Math.min(received.length, MSS_HEADER.length))
  if (!MSS_HEADER.subarray(0, head.length).equals(head)) {
    const greeting = JSON.stringify(received.subarray(0, 16).toString('latin1'))
    return new NotAHeadError(
      `${where} is not libp2p (it greets with ${greeting}): it is not a meshpool head; check the address`,
    )
  }
  const answer = received.subarray(MSS_HEADER.length)
  if (answer.length >= MSS_NA.length && answer.subarray(0, MSS_NA.length).equals(MSS_NA)) {
    return new NotAHeadError(
      `${where} speaks libp2p but not meshpool's handshake (${POOL_KEY_NOISE_PROTOCOL}): another program, or a meshpool head of another version`,
    )
  }
  return answer.length >= MSS_PROPOSAL.length ? 'head' : 'wait'
}

/**
 * Checks the address before libp2p dials it, over one plain TCP connection
 * that carries nothing derived from the pool key: nothing listening
 * (unreachable), a server that is not libp2p (not a head), or a libp2p peer
 * that does not speak meshpool's handshake (not a head of this version). The
 * password itself is checked by the handshake, which says so at once.
 */
function probe(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new Socket()
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
    const notAHead = (why: string): NotAHeadError =>
      new NotAHeadError(`${host}:${port} ${why}: it is not a meshpool head; check the address`)
    const timer = setTimeout(() => {
      if (socket.connecting) {
        finish(
          new HeadUnreachableError(
            `no answer from ${host}:${port} within ${PROBE_TIMEOUT_MS} ms: is the head running, and the port open on its firewall?`,
          ),
        )
      } else {
        finish(notAHead('accepts connections but did not start a handshake'))
      }
    }, PROBE_TIMEOUT_MS)
    socket.on('connect', () => socket.write(Buffer.concat([MSS_HEADER, MSS_PROPOSAL])))
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      const verdict = readProbeAnswer(received, `${host}:${port}`)
      if (verdict !== 'wait') finish(verdict === 'head' ? undefined : verdict)
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (
        received.length > 0 ||
        !['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN'].includes(err.code ?? '')
      ) {
        return finish(notAHead(`broke the connection without a handshake (${err.code ?? err.message})`))
      }
      finish(
        new HeadUnreachableError(
          `can't reach the head at ${host}:${port} (${err.code ?? err.message}): is \`meshpool head\` running there, and the port open?`,
        ),
      )
    })
    socket.on('close', () => finish(notAHead('closed the connection without a handshake')))
    socket.connect(port, host)
  })
}

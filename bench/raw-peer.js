// The raw libp2p baseline of `pnpm bench`: two peers configured like meshpool's
// (TCP, a private network keyed by the pool password, Noise, Yamux, identify,
// ping and gossipsub, the same connection settings; see packages/node/src/peer.ts),
// each in its own process, with no meshpool code between them.
//
//   node bench/raw-peer.js server                     listens on 127.0.0.1, prints its address, then `ready`
//   node bench/raw-peer.js client <addr> <options>    runs the measurements, prints `result <json>`
//
// The password comes from MESHPOOL_PASSWORD, as for meshpool's own processes.
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { derivePoolKey } from 'meshpool'

const ECHO = '/meshpool-bench/echo/1.0.0'
const SINK = '/meshpool-bench/sink/1.0.0'
const MESSAGE_BYTES = 64
/** As meshpool's StreamChannel sets it. */
const READ_BUFFER_BYTES = 16 * 1024 * 1024

/** The same libp2p configuration as meshpool's createPeer (not exported, so built here from the same packages). */
function createPeer(listen) {
  const password = process.env.MESHPOOL_PASSWORD
  if (password === undefined || password === '') throw new Error('set MESHPOOL_PASSWORD')
  return createLibp2p({
    addresses: { listen },
    transports: [tcp()],
    connectionProtector: preSharedKey({ psk: derivePoolKey(password) }),
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { maxConnections: 1024, inboundConnectionThreshold: 1024, maxIncomingPendingConnections: 256 },
    connectionMonitor: { pingInterval: 2000, pingTimeout: { minTimeout: 3000, maxTimeout: 10_000 } },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false }),
    },
  })
}

function drained(stream) {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      stream.removeEventListener('close', onClose)
      resolve()
    }
    const onClose = () => {
      stream.removeEventListener('drain', onDrain)
      reject(new Error('stream closed while sending'))
    }
    stream.addEventListener('drain', onDrain, { once: true })
    stream.addEventListener('close', onClose, { once: true })
  })
}

/** Sends, waiting for 'drain' when the stream's buffer is full (stream.onDrain is unreliable, see LIBP2P-NOTES). */
async function send(stream, bytes) {
  if (!stream.send(bytes)) await drained(stream)
}

async function server() {
  const peer = await createPeer(['/ip4/127.0.0.1/tcp/0'])
  await peer.handle(ECHO, async (stream) => {
    stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, READ_BUFFER_BYTES)
    try {
      for await (const chunk of stream) await send(stream, chunk)
    } catch {}
  })
  await peer.handle(SINK, async (stream) => {
    stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, READ_BUFFER_BYTES)
    let total
    let header = new Uint8Array(0)
    let received = 0
    try {
      for await (const chunk of stream) {
        const bytes = chunk.subarray()
        if (total === undefined) {
          header = Buffer.concat([header, bytes])
          if (header.byteLength < 8) continue
          total = Number(Buffer.from(header.buffer, header.byteOffset, 8).readBigUInt64BE(0))
          received = header.byteLength - 8
        } else {
          received += bytes.byteLength
        }
        if (received >= total) {
          await send(stream, Uint8Array.of(1))
          break
        }
      }
    } catch {}
  })
  for (const ma of peer.getMultiaddrs()) process.stdout.write(`listening ${ma.toString()}\n`)
  process.stdout.write('ready\n')
  const stop = async () => {
    await peer.stop().catch(() => {})
    process.exit(0)
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

/** Reads a stream in the background, counting bytes; `until(n)` resolves once n bytes have arrived. */
function counter(stream) {
  const state = { received: 0, waiter: undefined, error: undefined }
  void (async () => {
    try {
      for await (const chunk of stream) {
        state.received += chunk.byteLength
        if (state.waiter !== undefined && state.received >= state.waiter.target) {
          const { resolve } = state.waiter
          state.waiter = undefined
          resolve()
        }
      }
    } catch (err) {
      state.error = err
    }
    state.waiter?.reject(state.error ?? new Error('stream ended'))
  })()
  state.until = (target) =>
    state.received >= target
      ? Promise.resolve()
      : new Promise((resolve, reject) => {
          state.waiter = { target, resolve, reject }
        })
  return state
}

/** One message at a time: send 64 bytes, wait for them to come back. */
async function requestResponse(peer, ma, durationMs) {
  const stream = await peer.dialProtocol(ma, ECHO)
  const echo = counter(stream)
  const message = new Uint8Array(MESSAGE_BYTES).fill(7)
  // Warm-up.
  for (let i = 1; i <= 50; i++) {
    await send(stream, message)
    await echo.until(i * MESSAGE_BYTES)
  }
  let sent = 50
  const start = performance.now()
  let n = 0
  while (performance.now() - start < durationMs) {
    await send(stream, message)
    sent++
    await echo.until(sent * MESSAGE_BYTES)
    n++
  }
  const seconds = (performance.now() - start) / 1000
  stream.abort(new Error('done'))
  return { messages: n, seconds, perSecond: n / seconds }
}

/** Many messages in flight (at most `window` unanswered): send 64-byte messages, count the echoes. */
async function pipelined(peer, ma, durationMs, window) {
  const stream = await peer.dialProtocol(ma, ECHO)
  const echo = counter(stream)
  const message = new Uint8Array(MESSAGE_BYTES).fill(7)
  let sent = 0
  const start = performance.now()
  while (performance.now() - start < durationMs) {
    const answered = Math.floor(echo.received / MESSAGE_BYTES)
    if (sent - answered >= window) {
      await echo.until((answered + 1) * MESSAGE_BYTES)
      continue
    }
    await send(stream, message)
    sent++
    // Let the reader run now and then when the window is large.
    if (sent % 256 === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  await echo.until(sent * MESSAGE_BYTES)
  const seconds = (performance.now() - start) / 1000
  stream.abort(new Error('done'))
  return { messages: sent, seconds, perSecond: sent / seconds, window }
}

/** One stream, `totalBytes` in 1 MiB chunks, waiting for 'drain' when send says so; timed until the sink's ack. */
async function bulk(peer, ma, totalBytes) {
  const chunkBytes = 1024 * 1024
  const stream = await peer.dialProtocol(ma, SINK)
  const ack = counter(stream)
  const header = Buffer.alloc(8)
  header.writeBigUInt64BE(BigInt(totalBytes))
  const chunk = new Uint8Array(chunkBytes).fill(1)
  const start = performance.now()
  await send(stream, header)
  for (let sent = 0; sent < totalBytes; sent += chunkBytes) {
    await send(stream, sent + chunkBytes <= totalBytes ? chunk : chunk.subarray(0, totalBytes - sent))
  }
  await ack.until(1)
  const seconds = (performance.now() - start) / 1000
  stream.abort(new Error('done'))
  return { bytes: totalBytes, seconds, mibPerSecond: totalBytes / 1024 / 1024 / seconds }
}

async function client(address, options) {
  const peer = await createPeer([])
  const ma = multiaddr(address)
  try {
    const out = {}
    if (options.rrMs > 0) out.requestResponse = await requestResponse(peer, ma, options.rrMs)
    if (options.pipelinedMs > 0) {
      out.pipelined = await pipelined(peer, ma, options.pipelinedMs, options.window ?? 32)
      if (options.wideWindow > 0) out.pipelinedWide = await pipelined(peer, ma, options.pipelinedMs, options.wideWindow)
    }
    if (options.bulkBytes > 0) out.bulk = await bulk(peer, ma, options.bulkBytes)
    process.stdout.write(`result ${JSON.stringify(out)}\n`)
  } finally {
    await peer.stop().catch(() => {})
  }
}

const [mode, address, json] = process.argv.slice(2)
if (mode === 'server') await server()
else if (mode === 'client') {
  await client(address, JSON.parse(json ?? '{}'))
  process.exit(0)
} else {
  process.stderr.write('usage: raw-peer.js server | raw-peer.js client <multiaddr> <json options>\n')
  process.exit(2)
}

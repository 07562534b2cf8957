// Measures what it-pipe costs meshpool's byte paths: StreamChannel reads
// through it-pipe (@libp2p/utils' pipe over messageStreamToDuplex); the other
// way iterates the v3 stream itself, as StreamChannel did before. Two peers
// on 127.0.0.1 with meshpool's stack: one sends blob frames, the other reads
// them whole, into the same FrameReader and decoder. Run after `pnpm build`:
//
//   node packages/node/scripts/pipe-vs-channel.mjs [MiB per frame] [frames]
//
// It prints MiB/s for each way, best of three runs each.
import { randomBytes } from 'node:crypto'
import {
  BLOB_PROTOCOL,
  checkFrameStart,
  decodeFrame,
  FRAME_START_BYTES,
  inbound,
  MAX_FRAME_BYTES,
} from '@meshpool/core'
import { StreamChannel } from '../dist/net/channel.js'
import { FrameReader } from '../dist/net/frame-reader.js'
import { createPeer } from '../dist/net/peer.js'
import { swarmKey } from '../dist/net/psk.js'

const MIB = Number(process.argv[2] ?? 4)
const FRAMES = Number(process.argv[3] ?? 32)
const psk = swarmKey(randomBytes(32))
const server = await createPeer({ psk, listen: ['/ip4/127.0.0.1/tcp/0'] })
const client = await createPeer({ psk })
const data = new Uint8Array(MIB * 1024 * 1024).fill(1)
const hash = 'a'.repeat(64)

// The server answers a fetch with FRAMES blob frames, through StreamChannel (as meshpool sends today).
await server.handle(BLOB_PROTOCOL, (stream) => {
  const channel = new StreamChannel(stream, inbound.blobRequest)
  channel.start({
    message: () => {
      for (let i = 0; i < FRAMES; i++) channel.send({ type: 'blob', hash, data })
    },
    close: () => {},
  })
})

/** StreamChannel: it-pipe. */
async function viaChannel() {
  const stream = await client.dialProtocol(server.getMultiaddrs(), BLOB_PROTOCOL)
  const channel = new StreamChannel(stream, inbound.blobReply)
  return new Promise((resolve) => {
    let got = 0
    channel.start({
      message: () => {
        if (++got === FRAMES) {
          channel.close()
          resolve()
        }
      },
      close: () => {},
    })
    channel.send({ type: 'fetch', hash })
  })
}

/** The same frames read by iterating the stream, into the same FrameReader and decoder. */
async function viaIterator() {
  const stream = await client.dialProtocol(server.getMultiaddrs(), BLOB_PROTOCOL)
  const sender = new StreamChannel(stream, inbound.blobReply)
  sender.send({ type: 'fetch', hash })
  const reader = new FrameReader({
    maxBytes: MAX_FRAME_BYTES,
    startBytes: FRAME_START_BYTES,
    checkStart: (start, length) => checkFrameStart(start, length, inbound.blobReply),
  })
  let got = 0
  read: for await (const chunk of stream) {
    for (const frame of reader.push(chunk)) {
      decodeFrame(frame, inbound.blobReply)
      if (++got === FRAMES) break read
    }
  }
  stream.abort(new Error('done'))
}

async function best(name, run) {
  let fastest = Infinity
  for (let i = 0; i < 3; i++) {
    const start = performance.now()
    await run()
    fastest = Math.min(fastest, performance.now() - start)
  }
  const rate = (MIB * FRAMES) / (fastest / 1000)
  console.log(`${name}: ${MIB * FRAMES} MiB in ${fastest.toFixed(0)} ms, ${rate.toFixed(0)} MiB/s`)
}

await best('StreamChannel (it-pipe)', viaChannel)
await best('iterating the stream', viaIterator)
await client.stop()
await server.stop()

import { checkFrameStart, encodeFrame, FRAME_START_BYTES, FrameError, inbound } from '@meshpool/core'
import * as varint from 'uint8-varint'
import { describe, expect, it } from 'vitest'
import { FrameReader } from '../src/net/frame-reader.js'

const framed = (body: Uint8Array): Uint8Array => Uint8Array.from([...varint.encode(body.byteLength), ...body])

function reader(accepted = inbound.head.client): FrameReader {
  return new FrameReader({
    maxBytes: 256 * 1024 * 1024,
    startBytes: FRAME_START_BYTES,
    checkStart: (start, length) => checkFrameStart(start, length, accepted),
  })
}

describe('FrameReader', () => {
  it('gives back every frame, whole and in order, however the bytes are cut', () => {
    const bodies = [
      encodeFrame({ type: 'stats', reqId: 1 }),
      encodeFrame({ type: 'submit', jobs: [{ id: 1, params: new Uint8Array(5000).fill(7) }] }),
      encodeFrame({ type: 'watch', on: true }),
    ]
    const stream = Uint8Array.from(bodies.flatMap((b) => [...framed(b)]))
    for (const cut of [1, 2, 3, 7, 64, 100, 4999, stream.length]) {
      const r = reader()
      const out: Uint8Array[] = []
      for (let at = 0; at < stream.length; at += cut) out.push(...r.push(stream.subarray(at, at + cut)))
      expect(out.map((f) => Buffer.from(f).toString('hex'))).toEqual(bodies.map((b) => Buffer.from(b).toString('hex')))
    }
  })

  it('refuses a frame of a small type that announces more than its limit, before the body arrives', () => {
    const start = new Uint8Array(FRAME_START_BYTES)
    start.set(encodeFrame({ type: 'stats', reqId: 1 }))
    // The prefix says 95 MiB; only the first bytes come.
    const prefix = varint.encode(95 * 1024 * 1024)
    expect(() => reader().push(Uint8Array.from([...prefix, ...start]))).toThrow(
      /a stats frame of 99614720 bytes is over its limit of 65536 bytes/,
    )
  })

  it('refuses a frame that is not a map led by its type (95 MiB of empty maps), from its first bytes', () => {
    const start = new Uint8Array(64).fill(0xa0)
    start.set([0x9a, 0x05, 0xf0, 0x00, 0x00])
    expect(() => reader().push(Uint8Array.from([...varint.encode(95 * 1024 * 1024), ...start]))).toThrow(FrameError)
    expect(() => reader().push(Uint8Array.from([...varint.encode(95 * 1024 * 1024), ...start]))).toThrow(
      /first field is its type/,
    )
    // And one of a type this side never takes.
    const lease = encodeFrame({ type: 'lease', jobs: [] })
    expect(() => reader().push(framed(lease))).toThrow(/unknown message type "lease"/)
  })

  it('writes every frame with its type first, whatever order the object had', () => {
    const body = encodeFrame({ reqId: 3, type: 'stats' })
    expect(() => checkFrameStart(body, body.byteLength, inbound.head.client)).not.toThrow()
  })
})

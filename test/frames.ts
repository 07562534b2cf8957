import { decodeValue, encodeFrame } from '@meshpool/core'
import { varint } from './hostile-peer.js'

/** A message as meshpool's protocols write it: varint length, then the CBOR frame. */
export const frame = (message: object): Uint8Array => {
  const body = encodeFrame(message)
  return Buffer.concat([varint(body.byteLength), body])
}

/** Frames (varint length, CBOR) read off a stream, as meshpool's protocols write them. */
export async function* frames(stream: AsyncIterable<Uint8Array | { subarray(): Uint8Array }>): AsyncGenerator<unknown> {
  let buffered = Buffer.alloc(0)
  for await (const chunk of stream) {
    buffered = Buffer.concat([buffered, chunk instanceof Uint8Array ? chunk : chunk.subarray()])
    for (;;) {
      let length = 0
      let shift = 0
      let at = 0
      for (; at < buffered.length; at++) {
        length += ((buffered[at] as number) & 0x7f) * 2 ** shift
        shift += 7
        if (((buffered[at] as number) & 0x80) === 0) break
      }
      if (at >= buffered.length || buffered.length < at + 1 + length) break
      yield decodeValue(buffered.subarray(at + 1, at + 1 + length))
      buffered = buffered.subarray(at + 1 + length)
    }
  }
}

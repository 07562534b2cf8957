import { describe, expect, it } from 'vitest'
import { scanCbor } from '../src/cbor-scan.js'
import { decodeFrame, encodeFrame, FRAME_BUDGET, FrameError, inbound } from '../src/index.js'

const budget = FRAME_BUDGET

/** An array of `n` empty maps, as a hostile member would send. */
function emptyMaps(n: number): Uint8Array {
  const bytes = new Uint8Array(5 + n).fill(0xa0)
  bytes[0] = 0x9a
  new DataView(bytes.buffer).setUint32(1, n)
  return bytes
}

describe('scanCbor: a frame is bounded before it is decoded', () => {
  it('passes every real message and reads its type', () => {
    const messages = [
      { type: 'hello', name: 'n', slots: 4, addrs: ['/ip4/127.0.0.1/tcp/1'] },
      { type: 'results', results: [{ jobId: 1, leaseId: 2, ok: true, value: new Uint8Array(9) }] },
      {
        type: 'submit',
        jobs: Array.from({ length: 1000 }, (_, id) => ({ id, params: new Uint8Array(3), timeoutMs: 0 })),
      },
      { n: 1, type: 'pull', x: { deep: [1, [2, [3]]] }, f: 1.5, neg: -7, big: 2 ** 40, u: undefined, b: false },
    ]
    for (const message of messages) expect(scanCbor(encodeFrame(message), budget).type).toBe(message.type)
  })

  it('refuses a frame of a million empty maps in one pass, before any becomes an object', () => {
    const started = performance.now()
    expect(() => scanCbor(emptyMaps(1_000_000), budget)).toThrow(/over 266240 arrays and maps/)
    expect(performance.now() - started).toBeLessThan(500)
    expect(() => decodeFrame(emptyMaps(1_000_000), inbound.client)).toThrow(FrameError)
  })

  it('refuses deep nesting, a container that claims more items than there are bytes, and truncation', () => {
    const deep = new Uint8Array(10_000).fill(0x81) // [[[[…
    expect(() => scanCbor(deep, budget)).toThrow(/nested over 16 deep/)
    expect(() => scanCbor(Uint8Array.of(0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), budget)).toThrow(
      /claims more items than the frame has bytes/,
    )
    const whole = encodeFrame({ type: 'pull', n: 3 })
    for (let cut = 0; cut < whole.length; cut++) {
      expect(() => scanCbor(whole.subarray(0, cut), budget)).toThrow(FrameError)
    }
    expect(() => scanCbor(Uint8Array.of(...whole, 0x00), budget)).toThrow(/1 bytes follow its one item/)
  })

  it('random bytes give a FrameError or a scan, never another error and never a hang', () => {
    let seed = 7
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed & 0xff
    }
    for (let i = 0; i < 20_000; i++) {
      const bytes = Uint8Array.from({ length: 1 + (next() % 64) }, next)
      try {
        scanCbor(bytes, budget)
      } catch (err) {
        expect(err).toBeInstanceOf(FrameError)
      }
    }
  })
})

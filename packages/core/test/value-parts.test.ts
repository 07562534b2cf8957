import { FrameError, ValueAssembly, valueParts } from '@meshpool/core'
import { describe, expect, it } from 'vitest'

describe('a value in parts', () => {
  it('is cut into views of at most the part size and put back together byte for byte', () => {
    const value = Uint8Array.from({ length: 1000 }, (_, i) => i % 251)
    const parts = [...valueParts(value, 300)]
    expect(parts.map((p) => [p.offset, p.data.byteLength, p.total])).toEqual([
      [0, 300, 1000],
      [300, 300, 1000],
      [600, 300, 1000],
      [900, 100, 1000],
    ])
    const assembly = new ValueAssembly(1000, 1000)
    const out = parts.map((part) => assembly.add(part))
    expect(out.slice(0, 3)).toEqual([undefined, undefined, undefined])
    expect(out[3]).toEqual(value)
  })

  it('refuses a part out of order, one past the end, and a whole size over the bound, before allocating it', () => {
    const assembly = new ValueAssembly(10, 100)
    expect(() => assembly.add({ data: new Uint8Array(2), offset: 4, total: 10 })).toThrow(FrameError)
    expect(() => assembly.add({ data: new Uint8Array(2), offset: 0, total: 11 })).toThrow(/a part at 0 of 11 bytes/)
    expect(() => assembly.add({ data: new Uint8Array(12), offset: 0, total: 10 })).toThrow(/past the end/)
    expect(() => new ValueAssembly(2 ** 40, 100)).toThrow(
      'a value of 1099511627776 bytes is over the 100 bytes this side takes',
    )
    expect(() => new ValueAssembly(-1, 100)).toThrow(FrameError)
  })
})

import { decodeValue, encodeValue, SharedRef } from '@meshpool/core'
import { describe, expect, it } from 'vitest'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)

describe('a SharedRef inside a value', () => {
  it('travels as its hash alone, and decodes to what the resolver gives, wherever it sits', () => {
    const bytes = encodeValue({
      w: new SharedRef(A, 50 * 1024 * 1024),
      more: [1, new Map([['b', new SharedRef(B, 1)]])],
    })
    expect(bytes.byteLength).toBeLessThan(200)
    const values: Record<string, unknown> = { [A]: new Uint8Array([1, 2]), [B]: 'bee' }
    const asked: unknown[] = []
    const out = decodeValue<{ w: Uint8Array; more: [number, Map<string, string>] }>(bytes, (hash) => {
      asked.push(hash)
      return values[hash as string]
    })
    expect(asked).toEqual([A, B])
    expect([...out.w]).toEqual([1, 2])
    expect(out.more[1].get('b')).toBe('bee')
  })

  it('stays a SharedRef (with its hash) where no resolver is given', () => {
    const out = decodeValue<{ r: SharedRef }>(encodeValue({ r: new SharedRef(A, 3) }))
    expect(out.r).toBeInstanceOf(SharedRef)
    expect(out.r.hash).toBe(A)
  })

  it('a resolver that throws on a hash a peer forged stops the decode with its error', () => {
    const bytes = encodeValue({ r: new SharedRef('../../etc', 1) })
    expect(() =>
      decodeValue(bytes, (hash) => {
        throw new Error(`not a hash: ${String(hash)}`)
      }),
    ).toThrow('not a hash: ../../etc')
  })
})

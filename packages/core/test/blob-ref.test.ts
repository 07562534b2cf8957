import { decodeBlobRef, encodeBlobRef, encodeValue, MAX_BLOB_VALUE_BYTES } from '@meshpool/core'
import { describe, expect, it } from 'vitest'

const HASH = 'c'.repeat(64)

describe('the params a job carries in place of big ones', () => {
  it('are a few dozen bytes that name the hash and size again', () => {
    const params = encodeBlobRef({ hash: HASH, bytes: 100 * 1024 * 1024 })
    expect(params.byteLength).toBeLessThan(100)
    expect(decodeBlobRef(params)).toEqual({ hash: HASH, bytes: 100 * 1024 * 1024 })
  })

  it("are never mistaken for a user's params", () => {
    for (const value of [[HASH, 5], { hash: HASH, bytes: 5 }, HASH, new Uint8Array(40), undefined, 40818]) {
      expect(decodeBlobRef(encodeValue(value))).toBeUndefined()
    }
  })

  it('are refused when a member crafted them with a bad hash or size', () => {
    const crafted = (hash: unknown, bytes: unknown): Uint8Array => {
      const good = encodeBlobRef({ hash: HASH, bytes: 1 })
      const body = encodeValue([hash, bytes])
      return Uint8Array.of(...good.subarray(0, 3), ...body)
    }
    expect(decodeBlobRef(crafted(HASH, 7))).toEqual({ hash: HASH, bytes: 7 })
    expect(decodeBlobRef(crafted('../etc/passwd', 7))).toBeUndefined()
    expect(decodeBlobRef(crafted(HASH, -1))).toBeUndefined()
    expect(decodeBlobRef(crafted(HASH, 1.5))).toBeUndefined()
    expect(decodeBlobRef(crafted(HASH, MAX_BLOB_VALUE_BYTES + 1))).toBeUndefined()
    expect(decodeBlobRef(crafted(HASH, '7'))).toBeUndefined()
    expect(decodeBlobRef(Uint8Array.of(0xd9, 0x9f, 0x72, 0xff, 0xff))).toBeUndefined()
  })
})

import { derivePoolKey } from '@meshpool/node'
import { describe, expect, it } from 'vitest'

describe('derivePoolKey', () => {
  it('derives the same 32-byte swarm key from the same password, another from another', () => {
    const text = new TextDecoder().decode(derivePoolKey('correct horse battery'))
    expect(text).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
    expect(derivePoolKey('correct horse battery')).toEqual(derivePoolKey('correct horse battery'))
    expect(derivePoolKey('correct horse battery')).not.toEqual(derivePoolKey('correct horse batterz'))
    expect(derivePoolKey('same', 'pool-a')).not.toEqual(derivePoolKey('same', 'pool-b'))
  })

  it('is slow enough to make guessing costly, and runs once per process', () => {
    const started = performance.now()
    derivePoolKey(`fresh password ${Math.random()}`)
    const first = performance.now() - started
    expect(first).toBeGreaterThan(20)
    const again = performance.now()
    derivePoolKey('correct horse battery')
    expect(performance.now() - again).toBeLessThan(5)
  })

  it('refuses an empty password with the fix', () => {
    expect(() => derivePoolKey('')).toThrow(/MESHPOOL_PASSWORD/)
  })
})

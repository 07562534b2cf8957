import { scryptSync } from 'node:crypto'

/** scrypt cost: ~100 ms on a laptop core, so offline guessing of a password is costly. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }
const SALT_PREFIX = 'meshpool/psk/v1'

const cache = new Map<string, Buffer>()

/** The raw 32-byte pool secret derived from the password (memoised). */
export function derivePoolSecret(password: string, poolName = ''): Uint8Array {
  if (typeof password !== 'string' || password.length === 0) {
    throw new TypeError('the pool password is empty: set MESHPOOL_PASSWORD or pass --password-file')
  }
  const id = `${poolName}\u0000${password}`
  let secret = cache.get(id)
  if (secret === undefined) {
    secret = scryptSync(password.normalize('NFC'), `${SALT_PREFIX}/${poolName}`, 32, SCRYPT)
    cache.set(id, secret)
  }
  return secret
}

/**
 * Derives the 32-byte pre-shared key that protects every connection of a pool
 * from its password (scrypt, salted with the protocol version and the pool
 * name), in the swarm-key text form that `@libp2p/pnet` expects.
 * Memoised: the slow KDF runs once per process and password.
 */
export function derivePoolKey(password: string, poolName = ''): Uint8Array {
  const hex = Buffer.from(derivePoolSecret(password, poolName)).toString('hex')
  return new TextEncoder().encode(`/key/swarm/psk/1.0.0/\n/base16/\n${hex}`)
}

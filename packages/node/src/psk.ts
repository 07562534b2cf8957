import { createHash, randomBytes, scryptSync } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { InvalidOptionError } from '@meshpool/core'

/** scrypt cost: about 100 ms on one core, so that offline guessing of a password is costly. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }
/** The protocol version salts every key: a pool of another major version can't connect. */
const SALT_PREFIX = 'meshpool/psk/v1'
/** A password shorter than this gets a warning. */
export const MIN_PASSWORD_LENGTH = 12
/** The first word of a pool key file (`meshpool keygen`), then the key in hex. */
const KEY_FILE_TAG = 'meshpool-pool-key-v1'
/** How a pool key is written out for createPeer (the swarm-key text form, a leftover of pnet). */
const SWARM_KEY_PREFIX = '/key/swarm/psk/1.0.0/\n/base16/\n'

/**
 * How a peer proves it belongs to a pool: the pool password, or a pool key file
 * written by `meshpool keygen` (256 random bits, so no slow KDF is needed).
 * `poolName` salts the key too: the same password with another name is another pool.
 */
export interface PoolAccess {
  password?: string | undefined
  poolKeyFile?: string | undefined
  poolName?: string | undefined
}

const cache = new Map<string, Uint8Array>()
let warned = false

/**
 * The raw 32-byte pool secret (memoised: the slow KDF runs once per process).
 * Throws InvalidOptionError naming what is missing or wrong.
 */
export function poolSecret(access: PoolAccess): Uint8Array {
  const { password, poolKeyFile, poolName = '' } = access
  if (typeof poolName !== 'string') throw new InvalidOptionError('the pool name must be a string')
  if (password !== undefined && password !== '' && poolKeyFile !== undefined) {
    throw new InvalidOptionError('give the pool password or a pool key file, not both')
  }
  if (poolKeyFile !== undefined) {
    const key = readPoolKeyFile(poolKeyFile)
    return createHash('sha256').update(`${SALT_PREFIX}/key/${poolName}\u0000`).update(key).digest()
  }
  if (typeof password !== 'string' || password === '') {
    throw new InvalidOptionError(
      'no pool password: set MESHPOOL_PASSWORD (or pass a password file), or use a pool key file from `meshpool keygen`',
    )
  }
  const id = `${poolName}\u0000${password}`
  let secret = cache.get(id)
  if (secret === undefined) {
    if (password.length < MIN_PASSWORD_LENGTH && !warned) {
      warned = true
      process.emitWarning(
        `the pool password has ${password.length} characters: anyone who can reach the head can guess a short one offline; use ${MIN_PASSWORD_LENGTH} or more, or a pool key file from \`meshpool keygen\``,
        'MeshpoolWarning',
      )
    }
    secret = scryptSync(password.normalize('NFC'), `${SALT_PREFIX}/${poolName}`, 32, SCRYPT)
    cache.set(id, secret)
  }
  return secret
}

/** The swarm-key text form of a pool secret, as createPeer takes it. */
export function swarmKey(secret: Uint8Array): Uint8Array {
  return new TextEncoder().encode(`${SWARM_KEY_PREFIX}${Buffer.from(secret).toString('hex')}`)
}

/** The raw pool secret inside a swarm key (see {@link swarmKey}). */
export function secretOfSwarmKey(psk: Uint8Array): Uint8Array {
  const text = new TextDecoder().decode(psk)
  const hex = text.startsWith(SWARM_KEY_PREFIX) ? text.slice(SWARM_KEY_PREFIX.length).trim() : ''
  if (!/^[0-9a-f]{64}$/i.test(hex)) {
    throw new InvalidOptionError('the pool key is not in the form derivePoolKey gives (a swarm key with 64 hex digits)')
  }
  return Buffer.from(hex, 'hex')
}

/**
 * Derives the pre-shared key that protects every connection of a pool from
 * its password (scrypt, salted with the protocol version and the pool name),
 * in the swarm-key text form that createPeer takes.
 */
export function derivePoolKey(password: string, poolName = ''): Uint8Array {
  return swarmKey(poolSecret({ password, poolName }))
}

/** Refuses a secret file (a pool key, a password, an identity) that others on the machine can read. */
export function checkPrivateFile(file: string, what: string): void {
  let mode: number
  try {
    mode = statSync(file).mode
  } catch (err) {
    throw new InvalidOptionError(
      `can't read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    )
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new InvalidOptionError(
      `the ${what} ${file} can be read by other users (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${file}`,
    )
  }
}

function readPoolKeyFile(file: string): Uint8Array {
  checkPrivateFile(file, 'pool key file')
  const text = readFileSync(file, 'utf8').trim()
  const match = new RegExp(`^${KEY_FILE_TAG}\\s+([0-9a-f]{64})$`).exec(text)
  if (match === null) {
    throw new InvalidOptionError(
      `the pool key file ${file} is not a meshpool pool key (expected "${KEY_FILE_TAG} <64 hex digits>"); write one with: meshpool keygen ${file}`,
    )
  }
  return Buffer.from(match[1] as string, 'hex')
}

/** Writes a new random 256-bit pool key to `file` (mode 0600); refuses to overwrite one. */
export async function writePoolKeyFile(file: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  try {
    await writeFile(file, `${KEY_FILE_TAG} ${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new InvalidOptionError(`${file} exists; keygen never overwrites a key (move it away first)`)
    }
    throw err
  }
}

import { createHash, randomBytes, scryptSync } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { InvalidOptionError } from '@meshpool/core'
import { createPrivateFile } from './new-private-file.js'

/**
 * scrypt cost: N = 2^17 (128 MiB, about 0.35 s on one core here), so each
 * offline guess at a password costs that much. Random keys (a token, a key
 * file) need no slow KDF.
 */
const SCRYPT = { N: 2 ** 17, r: 8, p: 1, maxmem: 256 * 1024 * 1024 }
/**
 * The protocol version and the head's peer id salt every key: no two meshes
 * share a salt, so no dictionary of guesses serves more than one, and a pool
 * of another major version can't connect.
 */
const SALT_PREFIX = 'meshpool/psk/v2'
/** A password shorter than this gets a warning. */
export const MIN_PASSWORD_LENGTH = 12
/** The first word of a pool key file (`meshpool keygen`), then the key in hex. */
const KEY_FILE_TAG = 'meshpool-pool-key-v1'
/** How a pool key is written out for createPeer (the swarm-key text form, a leftover of pnet). */
const SWARM_KEY_PREFIX = '/key/swarm/psk/1.0.0/\n/base16/\n'
/** A join token: this prefix, then 256 random bits in base64url. */
const TOKEN_PREFIX = 'mpk1_'

/**
 * How a peer proves it belongs to a pool: the join token a head prints (256
 * random bits; the default), a pool key file written by `meshpool keygen`
 * (the same, in a file), or a password (through a slow KDF). `poolName`
 * salts the key too: the same secret with another name is another pool.
 */
export interface PoolAccess {
  token?: string | undefined
  password?: string | undefined
  poolKeyFile?: string | undefined
  poolName?: string | undefined
}

const cache = new Map<string, Uint8Array>()
let warned = false

/**
 * The raw 32-byte pool secret of the mesh whose head has the peer id `headId`
 * (memoised: the slow KDF runs once per process and head). Throws
 * InvalidOptionError naming what is missing or wrong.
 */
export function poolSecret(access: PoolAccess, headId: string): Uint8Array {
  const { token, password, poolKeyFile, poolName = '' } = access
  if (typeof poolName !== 'string') throw new InvalidOptionError('the pool name must be a string')
  if (typeof headId !== 'string' || headId === '')
    throw new InvalidOptionError("the head's peer id is needed to derive the pool key")
  const given = [token, password, poolKeyFile].filter((v) => v !== undefined && v !== '').length
  if (given > 1)
    throw new InvalidOptionError('give one pool secret: a token, a password or a pool key file, not several')
  const salt = `${SALT_PREFIX}/${headId}/${poolName}`
  if (token !== undefined && token !== '') {
    return createHash('sha256').update(`${salt}/token\u0000`).update(parsePoolToken(token)).digest()
  }
  if (poolKeyFile !== undefined) {
    return createHash('sha256').update(`${salt}/key\u0000`).update(readPoolKeyFile(poolKeyFile)).digest()
  }
  if (typeof password !== 'string' || password === '') {
    throw new InvalidOptionError(
      'no pool secret: set MESHPOOL_TOKEN to the token `meshpool head` prints (or MESHPOOL_PASSWORD, a password file, or a pool key file from `meshpool keygen`)',
    )
  }
  const id = `${salt}\u0000${password}`
  let secret = cache.get(id)
  if (secret === undefined) {
    if (password.length < MIN_PASSWORD_LENGTH && !warned) {
      warned = true
      process.emitWarning(
        `the pool password has ${password.length} characters: anyone who can reach the head can guess a short one offline; use ${MIN_PASSWORD_LENGTH} or more, or the head's token (the default) or a pool key file from \`meshpool keygen\``,
        'MeshpoolWarning',
      )
    }
    secret = scryptSync(password.normalize('NFC'), salt, 32, SCRYPT)
    cache.set(id, secret)
  }
  return secret
}

/**
 * The secret a caller gave, or else the one the environment holds:
 * MESHPOOL_TOKEN, MESHPOOL_POOL_KEY_FILE or MESHPOOL_PASSWORD (the first set);
 * MESHPOOL_POOL_NAME unless a name is given.
 */
export function withEnvironmentAccess(given: PoolAccess): PoolAccess {
  const poolName = given.poolName ?? envValue('MESHPOOL_POOL_NAME')
  const named = poolName === undefined ? {} : { poolName }
  const { token, password, poolKeyFile } = given
  if (token !== undefined) return { token, ...named }
  if (poolKeyFile !== undefined) return { poolKeyFile, ...named }
  if (password !== undefined) return { password, ...named }
  const fromEnv =
    envValue('MESHPOOL_TOKEN') !== undefined
      ? { token: envValue('MESHPOOL_TOKEN') }
      : envValue('MESHPOOL_POOL_KEY_FILE') !== undefined
        ? { poolKeyFile: envValue('MESHPOOL_POOL_KEY_FILE') }
        : { password: envValue('MESHPOOL_PASSWORD') }
  return { ...fromEnv, ...named }
}

/** Whether any secret is there (a token, a key file or a non-empty password). */
export function hasSecret(access: PoolAccess): boolean {
  return [access.token, access.password, access.poolKeyFile].some((v) => v !== undefined && v !== '')
}

function envValue(name: string): string | undefined {
  const value = process.env[name]
  return value === undefined || value === '' ? undefined : value
}

/** A new join token: 256 random bits. */
export function newPoolToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`
}

/** The 32 random bytes of a join token; throws InvalidOptionError naming the fix for anything else. */
export function parsePoolToken(token: string): Uint8Array {
  const body = token.trim().startsWith(TOKEN_PREFIX) ? token.trim().slice(TOKEN_PREFIX.length) : ''
  const key = /^[A-Za-z0-9_-]{43}$/.test(body) ? Buffer.from(body, 'base64url') : undefined
  if (key?.length !== 32) {
    throw new InvalidOptionError(
      `that is not a meshpool join token (${TOKEN_PREFIX}… and 43 more characters); copy the MESHPOOL_TOKEN=… that \`meshpool head\` prints`,
    )
  }
  return key
}

/**
 * The head's join token, kept in `file` (mode 0600) so it stays the same
 * across restarts; a new one is written there the first time.
 */
export async function loadOrCreatePoolToken(file: string): Promise<string> {
  await createPrivateFile(file, `${newPoolToken()}\n`)
  checkPrivateFile(file, 'token file')
  const token = readFileSync(file, 'utf8').trim()
  parsePoolToken(token)
  return token
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
 * Derives the pool key of the mesh whose head is `headId` from its password
 * (scrypt, salted with the protocol version, the head's peer id and the pool
 * name), in the swarm-key text form that createPeer takes.
 */
export function derivePoolKey(password: string, poolName = '', headId = 'any-head'): Uint8Array {
  return swarmKey(poolSecret({ password, poolName }, headId))
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
  if (!(await createPrivateFile(file, `${KEY_FILE_TAG} ${randomBytes(32).toString('hex')}\n`))) {
    throw new InvalidOptionError(`${file} exists; keygen never overwrites a key (move it away first)`)
  }
}

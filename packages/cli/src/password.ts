import { readFileSync } from 'node:fs'
import { checkPrivateFile, type PoolAccess } from '@meshpool/node/psk'
import type { Command } from 'commander'
import { secretEnv } from './secret-shed.js'
import { UsageError } from './usage-error.js'

export interface AccessFlags {
  token?: string
  passwordFile?: string
  poolKey?: string
  poolName?: string
}

/** Adds the flags that say how this process proves it belongs to the pool. Never a password flag. */
export function withAccessOptions(command: Command, when = ''): Command {
  return command
    .option(
      '--token <token>',
      `${when}the join token the head printed (default: $MESHPOOL_TOKEN; the environment keeps it out of the process list)`,
    )
    .option(
      '--password-file <file>',
      `${when}read the pool password from this file, mode 0600 (default: $MESHPOOL_PASSWORD)`,
    )
    .option(
      '--pool-key <file>',
      `${when}use a pool key file from \`meshpool keygen\` instead of a password (default: $MESHPOOL_POOL_KEY_FILE)`,
    )
    .option(
      '--pool-name <name>',
      `${when}the pool's name, if it has one: it salts the key (default: $MESHPOOL_POOL_NAME)`,
    )
}

/**
 * How this process proves it belongs to the pool: the head's join token
 * (--token or MESHPOOL_TOKEN), a pool key file (--pool-key or
 * MESHPOOL_POOL_KEY_FILE), or the password from --password-file or
 * MESHPOOL_PASSWORD; the first given. A password never comes from the
 * command line, where others can read it. `optional`: none at all is fine
 * (a head then makes its own token).
 */
export function readAccess(flags: AccessFlags, { optional = false } = {}): PoolAccess {
  const poolName = flags.poolName ?? env('MESHPOOL_POOL_NAME')
  const named = poolName === undefined ? {} : { poolName }
  const given = [flags.token, flags.poolKey, flags.passwordFile].filter((v) => v !== undefined)
  if (given.length > 1) throw new UsageError('--token, --pool-key and --password-file each name a secret: give one')
  if (flags.token !== undefined) return { token: flags.token, ...named }
  if (flags.poolKey !== undefined) return { poolKeyFile: flags.poolKey, ...named }
  if (flags.passwordFile !== undefined) return { password: readPassword(flags.passwordFile), ...named }
  const token = env('MESHPOOL_TOKEN')
  if (token !== undefined) return { token, ...named }
  const poolKeyFile = env('MESHPOOL_POOL_KEY_FILE')
  if (poolKeyFile !== undefined) return { poolKeyFile, ...named }
  if (optional && env('MESHPOOL_PASSWORD') === undefined) return named
  return { password: readPassword(undefined), ...named }
}

function readPassword(passwordFile: string | undefined): string {
  if (passwordFile !== undefined) {
    checkPrivateFile(passwordFile, 'password file')
    let text: string
    try {
      text = readFileSync(passwordFile, 'utf8')
    } catch (err) {
      throw new UsageError(
        `can't read the password file ${passwordFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      )
    }
    const password = text.replace(/\r?\n$/, '')
    if (password === '') throw new UsageError(`the password file ${passwordFile} is empty`)
    return password
  }
  const fromEnv = env('MESHPOOL_PASSWORD')
  if (fromEnv === undefined) {
    throw new UsageError(
      "no pool secret: set MESHPOOL_TOKEN to the token the head printed (MESHPOOL_TOKEN=… meshpool join …), or give the head's password (MESHPOOL_PASSWORD or --password-file <file>), or --pool-key <file> from `meshpool keygen`",
    )
  }
  return fromEnv
}

/**
 * The token the head's metrics and dashboard ask for, if any: from
 * --web-token-file (mode 0600, one line), else MESHPOOL_WEB_TOKEN.
 */
export function readWebToken(file: string | undefined): string | undefined {
  if (file === undefined) return env('MESHPOOL_WEB_TOKEN')
  checkPrivateFile(file, 'web token file')
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new UsageError(
      `can't read the web token file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    )
  }
  const token = text.replace(/\r?\n$/, '')
  if (token === '')
    throw new UsageError(`the web token file ${file} is empty: write a token in it, e.g. openssl rand -hex 32 >${file}`)
  return token
}

/** Read through secretEnv: `meshpool head` and `join` hand their secrets over a re-exec, out of the environment. */
const env = secretEnv

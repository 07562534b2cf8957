import { readFileSync } from 'node:fs'
import { checkPrivateFile, type PoolAccess } from '@meshpool/node'
import type { Command } from 'commander'
import { UsageError } from './usage-error.js'

export interface AccessFlags {
  passwordFile?: string
  poolKey?: string
  poolName?: string
}

/** Adds the flags that say how this process proves it belongs to the pool. Never a password flag. */
export function withAccessOptions(command: Command, when = ''): Command {
  return command
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
 * How this process proves it belongs to the pool: a pool key file (--pool-key or
 * MESHPOOL_POOL_KEY_FILE), else the password from --password-file or
 * MESHPOOL_PASSWORD. Never from the command line, where others can read it.
 */
export function readAccess(flags: AccessFlags): PoolAccess {
  const poolName = flags.poolName ?? env('MESHPOOL_POOL_NAME')
  const named = poolName === undefined ? {} : { poolName }
  if (flags.poolKey !== undefined && flags.passwordFile !== undefined) {
    throw new UsageError('--pool-key and --password-file both name a secret: give one')
  }
  const poolKeyFile = flags.poolKey ?? (flags.passwordFile === undefined ? env('MESHPOOL_POOL_KEY_FILE') : undefined)
  if (poolKeyFile !== undefined) return { poolKeyFile, ...named }
  return { password: readPassword(flags.passwordFile), ...named }
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
      'no pool password: set MESHPOOL_PASSWORD, or pass --password-file <file> (the same password on the head and every node), or --pool-key <file> from `meshpool keygen`',
    )
  }
  return fromEnv
}

function env(name: string): string | undefined {
  const value = process.env[name]
  return value === undefined || value === '' ? undefined : value
}

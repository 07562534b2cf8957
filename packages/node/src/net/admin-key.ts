import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { InvalidOptionError } from '@meshpool/core'
import { createPrivateFile } from './new-private-file.js'
import { checkPrivateFile } from './psk.js'

/** The head's admin key, beside its identity file: who holds it may revoke and stop nodes. */
export const ADMIN_KEY_FILE = 'admin.key'
/** Beside the default head key file: what `meshpool revoke` and `stop` use on the head's own machine. */
export const DEFAULT_ADMIN_KEY_FILE = join(homedir(), '.meshpool', ADMIN_KEY_FILE)
/** An admin key: this prefix, then 256 random bits in base64url. */
const ADMIN_KEY_PREFIX = 'mpa1_'
const ADMIN_KEY_FORM = /^mpa1_[A-Za-z0-9_-]{43}$/

/** What the head says to a revoke or stop without its admin key. */
const NEEDS_ADMIN_KEY =
  "revoke and stop need the head's admin key: give the admin.key file the head wrote beside its key file (meshpool revoke / stop --admin-key <file>, which default to ~/.meshpool/admin.key on the head's machine; createPool({ adminKeyFile }) or MESHPOOL_ADMIN_KEY_FILE)"

/** A new admin key, as its file holds it (for a file made elsewhere, as `meshpool k8s` makes its Secret). */
export function newAdminKey(): string {
  return `${ADMIN_KEY_PREFIX}${randomBytes(32).toString('base64url')}\n`
}

/**
 * The head's admin key, kept in `file` (mode 0600); a new one is written there
 * the first time. Undefined, with `onNote` told why, when the folder can't be
 * written (a key file mounted read-only): then no one may revoke or stop nodes.
 */
export async function loadOrCreateAdminKey(file: string, onNote: (line: string) => void): Promise<string | undefined> {
  try {
    await createPrivateFile(file, newAdminKey())
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'EEXIST') {
      onNote(
        `can't write the admin key ${file} (${code ?? (err as Error).message}): meshpool revoke and stop are refused`,
      )
      return undefined
    }
  }
  return readAdminKey(file)
}

/** Reads an admin key file; throws InvalidOptionError naming the fix. */
export function readAdminKey(file: string): string {
  checkPrivateFile(file, 'admin key file')
  const key = readFileSync(file, 'utf8').trim()
  if (!ADMIN_KEY_FORM.test(key)) {
    throw new InvalidOptionError(
      `${file} is not a meshpool admin key (${ADMIN_KEY_PREFIX}… and 43 more characters); give the admin.key file the head wrote beside its key file`,
    )
  }
  return key
}

/**
 * The admin key a caller holds: in `file`, else in MESHPOOL_ADMIN_KEY_FILE, else
 * (with `orDefault`, as the CLI does) in ~/.meshpool/admin.key if it is there.
 * Undefined when there is none: the head will refuse, saying what to give.
 */
export function callerAdminKey(file: string | undefined, { orDefault = false } = {}): string | undefined {
  const named = file || process.env.MESHPOOL_ADMIN_KEY_FILE || undefined
  if (named !== undefined) return readAdminKey(named)
  return orDefault && existsSync(DEFAULT_ADMIN_KEY_FILE) ? readAdminKey(DEFAULT_ADMIN_KEY_FILE) : undefined
}

/**
 * Why a revoke or stop that carries `given` is refused by a head whose admin
 * key is `own` (undefined: it has none, so every such request is refused).
 */
export function adminRefusal(own: string | undefined, given: string | undefined): string | undefined {
  if (own === undefined) {
    return 'this head has no admin key (it could not write admin.key beside its key file): make that folder writable and restart the head to revoke or stop nodes'
  }
  if (given === undefined || given === '') return NEEDS_ADMIN_KEY
  const digest = (text: string) => createHash('sha256').update(text).digest()
  if (!timingSafeEqual(digest(own), digest(given))) {
    return "that admin key is not this head's: give the admin.key file beside this head's key file"
  }
  return undefined
}

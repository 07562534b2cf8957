import { readFileSync } from 'node:fs'
import { UsageError } from './usage-error.js'

/** The pool password: from --password-file, else MESHPOOL_PASSWORD. Never from the command line. */
export function readPassword(passwordFile: string | undefined): string {
  if (passwordFile !== undefined) {
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
  const fromEnv = process.env.MESHPOOL_PASSWORD
  if (fromEnv === undefined || fromEnv === '') {
    throw new UsageError(
      'no pool password: set MESHPOOL_PASSWORD, or pass --password-file <file> (the same password on the head and every node)',
    )
  }
  return fromEnv
}

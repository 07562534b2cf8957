import { createHash } from 'node:crypto'

/** The sha-256 of some bytes, in hex: the name of shipped code. */
export function codeHash(code: Uint8Array): string {
  return createHash('sha256').update(code).digest('hex')
}

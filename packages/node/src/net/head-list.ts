import { describe, InvalidOptionError } from '@meshpool/core'
import { headIdOf } from './dial.js'

/** Most head addresses one mesh may list (a primary and its standbys). */
export const MAX_HEADS = 8

/**
 * The head addresses a caller gave: one multiaddr, several (an array), or
 * several in one string separated by commas (as `MESHPOOL_HEAD` holds them).
 * Each must be a head's whole address; throws InvalidOptionError naming the bad one.
 */
export function parseHeadList(given: unknown, what = 'head'): string[] {
  const parts = Array.isArray(given)
    ? given
    : typeof given === 'string'
      ? given.split(',').map((part) => part.trim())
      : undefined
  if (parts === undefined || parts.length === 0) {
    throw new InvalidOptionError(
      `${what} must be the head's multiaddr, a list of them, or several separated by commas; got ${describe(given)}`,
    )
  }
  if (parts.length > MAX_HEADS)
    throw new InvalidOptionError(`${what} lists ${parts.length} heads; at most ${MAX_HEADS}`)
  const heads: string[] = []
  for (const part of parts) {
    if (typeof part !== 'string' || part === '') {
      throw new InvalidOptionError(`${what} lists ${describe(part)}; each head is a multiaddr string`)
    }
    headIdOf(part)
    if (!heads.includes(part)) heads.push(part)
  }
  return heads
}

/**
 * The id of a mesh: the peer id of the first head listed (its primary). It
 * salts the pool key, so every head of one mesh, and every peer that lists
 * them in the order the heads print, derives the same key.
 */
export function meshIdOf(heads: readonly string[]): string {
  return headIdOf(heads[0] as string)
}

/**
 * Which of a mesh's heads to dial next: the one that answered last, else the
 * others in turn. A head that turns out to be a standby is skipped, and the
 * active head it names is tried first when it is one of the list.
 */
export class HeadCursor {
  readonly heads: readonly string[]
  #at = 0

  constructor(heads: readonly string[]) {
    this.heads = heads
  }

  /** The head to dial now. */
  get current(): string {
    return this.heads[this.#at] as string
  }

  /** The peer ids of every head listed: the peers whose updates a node takes. */
  get peerIds(): Set<string> {
    return new Set(this.heads.map(headIdOf))
  }

  /** The current head did not answer, or is a standby: the next one is tried. */
  skip(): void {
    this.#at = (this.#at + 1) % this.heads.length
  }

  /** A standby named the active head: dial it next if it is one of the list, else the next in turn. */
  redirect(active: string | undefined): void {
    const named = active === undefined ? -1 : this.#indexOf(active)
    if (named >= 0 && named !== this.#at) this.#at = named
    else this.skip()
  }

  /**
   * Dials heads in turn from the current one, until one answers: the cursor
   * stays on it. Throws the last failure once every head failed.
   */
  async dial<T>(open: (head: string) => Promise<T>): Promise<T> {
    let last: unknown
    for (let tried = 0; tried < this.heads.length; tried++) {
      try {
        return await open(this.current)
      } catch (err) {
        last = err
        if (this.heads.length > 1) this.skip()
      }
    }
    if (this.heads.length > 1 && (last as Error)?.name === 'HandshakeRefusedError') {
      ;(last as Error).message +=
        ' With several heads, list the primary first, as the join line does: its peer id salts the key.'
    }
    throw last
  }

  /** The listed head with the same peer id as `address` (a standby names the active head by its own address). */
  #indexOf(address: string): number {
    let id: string
    try {
      id = headIdOf(address)
    } catch {
      return -1
    }
    return this.heads.findIndex((head) => headIdOf(head) === id)
  }
}

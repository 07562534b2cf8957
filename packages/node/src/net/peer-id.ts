import { peerIdFromString } from '@libp2p/peer-id'
import { InvalidOptionError } from '@meshpool/core'

/** Whether `text` is a peer id (the 12D3KooW… a node prints). */
export function isPeerId(text: string): boolean {
  try {
    peerIdFromString(text)
    return true
  } catch {
    return false
  }
}

/** Throws InvalidOptionError unless `text` is a peer id. */
export function checkPeerId(text: unknown, what: string): asserts text is string {
  if (typeof text !== 'string' || !isPeerId(text)) {
    throw new InvalidOptionError(
      `${what} takes a peer id like the 12D3KooW… a node prints, got ${JSON.stringify(text)}`,
    )
  }
}

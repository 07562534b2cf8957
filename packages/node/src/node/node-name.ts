import { hostname } from 'node:os'

/**
 * The name of a node started without one: its host name and the start of its
 * peer id (past the `12D3KooW` every Ed25519 id begins with), e.g. `gpu1-DUxQab`,
 * so nodes on one machine differ in status and log prefixes.
 */
export function defaultNodeName(peerId: string, host = hostname()): string {
  const distinct = peerId.startsWith('12D3KooW') ? peerId.slice('12D3KooW'.length) : peerId
  return `${host}-${distinct.slice(0, 6)}`
}

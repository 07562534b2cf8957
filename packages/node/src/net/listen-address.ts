import { InvalidOptionError } from '@meshpool/core'
import { multiaddr } from '@multiformats/multiaddr'

/** Where a node listens for other nodes unless told: every interface, any port. */
export const DEFAULT_NODE_LISTEN = '/ip4/0.0.0.0/tcp/0'

/** Throws InvalidOptionError unless `address` is a TCP multiaddr a node can listen on. */
export function checkListenAddress(address: string): void {
  let ok = false
  try {
    ok = multiaddr(address)
      .getComponents()
      .some((c) => c.name === 'tcp')
  } catch {}
  if (!ok) {
    throw new InvalidOptionError(
      `the listen address ${JSON.stringify(address)} is not a TCP multiaddr; give one like /ip4/0.0.0.0/tcp/0 (any port) or /ip4/10.0.0.7/tcp/9000`,
    )
  }
}

/**
 * Where a peer that joins the head at `head` listens: as asked (`listen`, checked,
 * named `what` in errors), else where the head is reachable (a head on loopback:
 * loopback too, else every interface).
 */
export function listenAddressesFor(head: string, listen: unknown, what: string): string[] {
  if (listen !== undefined) {
    const addresses = typeof listen === 'string' ? [listen] : listen
    if (!Array.isArray(addresses) || addresses.some((a) => typeof a !== 'string')) {
      throw new InvalidOptionError(`${what} must be a multiaddr string or a list of them`)
    }
    for (const address of addresses as string[]) checkListenAddress(address)
    return addresses as string[]
  }
  if (/^\/ip4\/127\./.test(head)) return ['/ip4/127.0.0.1/tcp/0']
  if (/^\/ip6\/::1\//.test(head)) return ['/ip6/::1/tcp/0']
  return [DEFAULT_NODE_LISTEN]
}

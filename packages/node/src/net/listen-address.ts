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

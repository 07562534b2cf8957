import { networkInterfaces } from 'node:os'

/** The multiaddr a head listens on, for a host name or IP address and a port. */
export function listenAddress(host: string, port: number): string {
  return `/ip${host.includes(':') ? 6 : 4}/${host}/tcp/${port}`
}

/** The addresses to print for joining: interface addresses for a wildcard listen, LAN before loopback. */
export function reachableAddresses(listening: string[], host: string, port: number, peerId: string): string[] {
  const actualPort = Number(/\/tcp\/(\d+)/.exec(listening[0] ?? '')?.[1] ?? port)
  const ips: string[] = []
  if (host === '0.0.0.0' || host === '::') {
    for (const list of Object.values(networkInterfaces())) {
      for (const nic of list ?? []) {
        if (nic.family === 'IPv4' && !nic.internal) ips.push(nic.address)
      }
    }
    ips.push('127.0.0.1')
  } else {
    ips.push(host)
  }
  return ips.map((ip) => `/ip${ip.includes(':') ? 6 : 4}/${ip}/tcp/${actualPort}/p2p/${peerId}`)
}

/** An http URL on a host (an IPv6 address in brackets). */
export function webUrl(host: string, port: number, path: string): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`
}

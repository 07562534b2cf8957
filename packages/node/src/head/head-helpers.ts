import type { NodeInfo, PeerInfo } from '@meshpool/core'
import type { NodeSession } from './head-types.js'

/** Groups items by a key, keeping the order of both the keys and the items. */
export function groupBy<T, K, V>(items: Iterable<T>, key: (item: T) => K, value: (item: T) => V): Map<K, V[]> {
  const groups = new Map<K, V[]>()
  for (const item of items) {
    const k = key(item)
    const list = groups.get(k)
    if (list === undefined) groups.set(k, [value(item)])
    else list.push(value(item))
  }
  return groups
}

/**
 * Up to `count` of the nodes that listen (all of `listening` do), other than
 * `except` (`exceptListed`: it is one of them), picked at random as other
 * nodes dial them: a few random draws, however many nodes there are.
 */
export function pickPeers<T extends { id: string; addrs: string[] }>(
  listening: readonly T[],
  count: number,
  except: T,
  exceptListed: boolean,
): PeerInfo[] {
  const others = listening.length - (exceptListed ? 1 : 0)
  const picked = new Set<T>()
  while (picked.size < Math.min(count, others)) {
    const node = listening[Math.floor(Math.random() * listening.length)] as T
    if (node !== except) picked.add(node)
  }
  return [...picked].map((n) => ({ peerId: n.id, addrs: n.addrs }))
}

/** What `meshpool status` shows of a node. */
export function nodeInfo(node: NodeSession): NodeInfo {
  const slots = Array.from({ length: node.slots }, (_, index) => {
    const gpu = node.gpus[index]
    return { index, state: node.slotStates[index] ?? 'idle', ...(gpu === undefined ? {} : { gpu }) }
  })
  const { id: nodeId, name, addrs, done, failed, joinedAt, lastHeartbeat } = node
  return { nodeId, name, addrs, slots, done, failed, joinedAt, lastHeartbeat }
}

/**
 * The addresses a node gave for itself that are on the IP address its
 * connection came from: other nodes dial only those, so a member can't point
 * the mesh at a machine of its choosing.
 */
export function addrsOnIp(addrs: readonly string[], ip: string): string[] {
  return addrs.filter((addr) => /^\/ip[46]\/([^/]+)\//.exec(addr)?.[1] === ip)
}

/**
 * A note said once per `ms` at most, the others dropped: for what a peer can
 * make the head say as often as it likes (refusals, ignored results).
 */
export function throttledNote(note: (line: string) => void, now: () => number, ms = 1000): (line: string) => void {
  let last = Number.NEGATIVE_INFINITY
  return (line) => {
    const at = now()
    if (at - last < ms) return
    last = at
    note(line)
  }
}

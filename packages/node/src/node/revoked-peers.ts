/** What a node does with a `revoked` list from its head. */
export interface RevokedPeers {
  /** This node is named: it leaves, and is refused from now on. */
  leave: boolean
  /** Other nodes to refuse and hang up on. */
  drop: string[]
  /** The head named itself (a head of an older version, or a forged list): ignored. */
  headNamed: boolean
}

/** Sorts a revoked list: a node never drops its own head, nor hangs up on itself. */
export function sortRevoked(peerIds: string[], { self, head }: { self: string; head: string }): RevokedPeers {
  return {
    leave: peerIds.includes(self),
    drop: [...new Set(peerIds.filter((id) => id !== self && id !== head))],
    headNamed: peerIds.includes(head),
  }
}

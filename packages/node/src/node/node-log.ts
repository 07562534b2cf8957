import type { Logger } from '@libp2p/interface'
import { logger } from '@libp2p/logger'

/**
 * A node's log on one topic, named `meshpool:<topic>:<node name>`: the lines
 * of 30 nodes in one process tell their node, `DEBUG=meshpool:gossip*` shows
 * every node's gossip and `DEBUG=meshpool:gossip:<name>` one node's.
 * Topics: `node` (the agent), `gossip`, `blobs`, `mesh`.
 */
export function nodeLog(topic: 'node' | 'gossip' | 'blobs' | 'mesh', name: string): Logger {
  return logger(`meshpool:${topic}:${name}`)
}

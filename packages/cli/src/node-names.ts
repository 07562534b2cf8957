import type { NodeInfo } from '@meshpool/node'
import { UsageError } from './usage-error.js'

/**
 * The peer id of each node `meshpool stop` names, by peer id or by a name only
 * one node has; undefined for a word that names no node. An ambiguous name is
 * refused, listing its nodes.
 */
export function pickNodes(nodes: readonly NodeInfo[], wanted: readonly string[]): Array<string | undefined> {
  return wanted.map((word) => {
    if (nodes.some((node) => node.nodeId === word)) return word
    const named = nodes.filter((node) => node.name === word)
    if (named.length > 1) {
      throw new UsageError(
        `${named.length} nodes are called ${word}: ${named.map((node) => node.nodeId).join(', ')}. Give the peer id of the one to stop`,
      )
    }
    return named[0]?.nodeId
  })
}

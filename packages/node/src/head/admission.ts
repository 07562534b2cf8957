import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { InvalidOptionError } from '@meshpool/core'
import { isPeerId } from '../net/peer-id.js'
import type { PeerRefusal } from '../net/pool-key-noise.js'

/** How long the head waits to write down nodes that joined (many join in the same second). */
const SAVE_DELAY_MS = 1000

export interface AdmittedNode {
  name: string
  firstSeen: string
  lastSeen: string
}

export interface AdmissionInit {
  /** The head's own peer id: it is never revoked (that would cut every node off). */
  headId: string
  /** A file of peer ids, one per line: the only nodes and clients the head lets in. */
  allowPeersFile?: string | undefined
  /** The head's log. */
  onNote?: (line: string) => void
}

/**
 * Which peers the head lets in, kept beside its identity file: the nodes it has
 * admitted (`nodes.json`), the peers revoked with `meshpool revoke`
 * (`revoked.json`, refused from then on, across restarts), and, with
 * `--allow-peers`, the only peer ids that may join as nodes or connect as clients.
 */
export class Admission {
  readonly #dir: string
  readonly #revoked: Set<string>
  readonly #nodes: Record<string, AdmittedNode>
  readonly #allowed: Set<string> | undefined
  readonly #headId: string
  #saveTimer: NodeJS.Timeout | undefined
  #warned = false

  constructor(dir: string, { headId, allowPeersFile, onNote = () => {} }: AdmissionInit) {
    this.#dir = dir
    this.#headId = headId
    this.#revoked = new Set(readJson<string[]>(join(dir, 'revoked.json'), []))
    // Written by an older version that let the head revoke itself: kept, that entry would lock every node out.
    if (this.#revoked.delete(headId)) {
      onNote(`ignored the head's own peer id ${headId} in ${join(dir, 'revoked.json')}: the head is never revoked`)
    }
    this.#nodes = readJson<Record<string, AdmittedNode>>(join(dir, 'nodes.json'), {})
    this.#allowed = allowPeersFile === undefined ? undefined : readAllowList(allowPeersFile)
  }

  isRevoked(peerId: string): boolean {
    return this.#revoked.has(peerId)
  }

  revokedIds(): string[] {
    return [...this.#revoked]
  }

  /** The --allow-peers list (with the head's own id), or undefined without one: nodes refuse the others too. */
  allowedIds(): string[] | undefined {
    return this.#allowed === undefined ? undefined : [...new Set([this.#headId, ...this.#allowed])]
  }

  /** Whether the handshake refuses this peer, and why: before it can open a stream or hear gossip. */
  handshakeRefusal(peerId: string): PeerRefusal | undefined {
    if (this.#revoked.has(peerId)) return 'revoked'
    if (this.#allowed !== undefined && !this.#allowed.has(peerId) && peerId !== this.#headId) return 'unlisted'
    return undefined
  }

  /** Why this peer may not join as a node, or undefined if it may. */
  refusal(peerId: string): string | undefined {
    if (this.#revoked.has(peerId)) return `node ${peerId} was revoked`
    if (this.#allowed !== undefined && !this.#allowed.has(peerId)) {
      return `node ${peerId} is not in the head's --allow-peers list; add its peer id there to let it join`
    }
    return undefined
  }

  /** Why this peer may not use the head as a client, or undefined if it may. */
  clientRefusal(peerId: string): string | undefined {
    if (this.#allowed === undefined || this.#allowed.has(peerId)) return undefined
    return `client ${peerId} is not in the head's --allow-peers list; add its peer id there to let it connect (a client keeps its identity in createPool({ identityFile }), MESHPOOL_CLIENT_KEY_FILE or ~/.meshpool/client.key)`
  }

  /** Why this peer can't be revoked, or undefined if it can. */
  revokeRefusal(peerId: string): string | undefined {
    if (peerId !== this.#headId) return undefined
    return `${peerId} is this head's own peer id: revoking it would cut every node off; revoke a node's peer id (meshpool status lists them)`
  }

  /** Remembers a node that joined. */
  admitted(peerId: string, name: string): void {
    const now = new Date().toISOString()
    this.#nodes[peerId] = { name, firstSeen: this.#nodes[peerId]?.firstSeen ?? now, lastSeen: now }
    this.#saveTimer ??= setTimeout(() => {
      this.#saveTimer = undefined
      this.#write('nodes.json', this.#nodes)
    }, SAVE_DELAY_MS)
    this.#saveTimer.unref()
  }

  /** Refuses this peer from now on; says whether it had ever joined. */
  revoke(peerId: string): boolean {
    if (!isPeerId(peerId) || this.revokeRefusal(peerId) !== undefined) return false // a hostile client stores nothing
    this.#revoked.add(peerId)
    this.#write('revoked.json', [...this.#revoked])
    return Object.hasOwn(this.#nodes, peerId)
  }

  flush(): void {
    if (this.#saveTimer === undefined) return
    clearTimeout(this.#saveTimer)
    this.#saveTimer = undefined
    this.#write('nodes.json', this.#nodes)
  }

  #write(name: string, value: unknown): void {
    const file = join(this.#dir, name)
    try {
      writeFileSync(`${file}.tmp`, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 })
      renameSync(`${file}.tmp`, file)
    } catch (err) {
      // A read-only folder (a key file mounted from a Secret): the head goes on, remembering in memory.
      if (!this.#warned) process.emitWarning(`can't write ${file}: ${(err as Error).message}`, 'MeshpoolWarning')
      this.#warned = true
    }
  }
}

function readJson<T>(file: string, empty: T): T {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return empty
    throw err
  }
  try {
    return JSON.parse(text) as T
  } catch (err) {
    throw new InvalidOptionError(`${file} is not valid JSON (${(err as Error).message}); fix it or move it away`)
  }
}

/** One peer id per line; blank lines and `#` comments are skipped. */
function readAllowList(file: string): Set<string> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new InvalidOptionError(
      `can't read the --allow-peers file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    )
  }
  const ids = new Set<string>()
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/#.*/, '').trim()
    if (line === '') continue
    if (!isPeerId(line)) {
      throw new InvalidOptionError(
        `${file} line ${i + 1}: ${JSON.stringify(line)} is not a peer id (one per line, like the 12D3KooW… a node prints)`,
      )
    }
    ids.add(line)
  }
  return ids
}

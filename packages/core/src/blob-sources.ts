/** How many fetches of one blob a source (the head, or a node that has it) serves at once. @default 3 */
export const BLOB_SENDS_PER_SOURCE = 3

/** Where a node should fetch a blob: from the head itself, or from a node (peer id) that has it. */
export type BlobSource = 'head' | { peer: string }

interface Fetch {
  requester: string
  direct: boolean
  answer: (source: BlobSource) => void
  /** Set once answered: the source this fetch counts against. */
  source?: BlobSource
}

interface BlobRoutes {
  headLoad: number
  /** Nodes that have the blob, and how many fetches each serves now. */
  holders: Map<string, number>
  fetches: Map<string, Fetch>
  waiting: Fetch[]
}

/**
 * Spreads the fetches of a big blob (an update too large for gossip) over the
 * head and the nodes that already have it, so that the head sends it a few
 * times rather than once per node. The head serves the first `perSource`
 * fetches; once a node has the blob, nodes serve it (each at most `perSource`
 * at once) and the head only serves a node that could get it nowhere else.
 * A fetch waits while every source is busy. The copies spread as a tree: each
 * node that finishes becomes a source. Pure: the caller does the I/O and
 * reports what happened.
 */
export class BlobSources {
  readonly #perSource: number
  readonly #blobs = new Map<string, BlobRoutes>()

  constructor(perSource = BLOB_SENDS_PER_SOURCE) {
    this.#perSource = perSource
  }

  /** The head holds this blob now. */
  add(hash: string): void {
    if (!this.#blobs.has(hash))
      this.#blobs.set(hash, { headLoad: 0, holders: new Map(), fetches: new Map(), waiting: [] })
  }

  /** The head no longer holds it: fetches still waiting are answered by the head (which will say it has none). */
  remove(hash: string): void {
    const routes = this.#blobs.get(hash)
    if (routes === undefined) return
    this.#blobs.delete(hash)
    for (const fetch of routes.waiting) fetch.answer('head')
  }

  /**
   * A node asks for a blob. `answer` is called once with where to fetch it:
   * at once, or when a source frees up. `direct`: the node could not get it
   * from the node it was sent to, so the head sends it (and stops naming that node).
   */
  request(hash: string, requester: string, direct: boolean, answer: (source: BlobSource) => void): void {
    const routes = this.#blobs.get(hash)
    if (routes === undefined) {
      answer('head')
      return
    }
    const previous = routes.fetches.get(requester)
    if (previous !== undefined) {
      if (direct && previous.source !== undefined && previous.source !== 'head')
        routes.holders.delete(previous.source.peer)
      this.#release(routes, previous)
      routes.waiting = routes.waiting.filter((f) => f !== previous)
      this.#drain(routes)
    }
    const fetch: Fetch = { requester, direct, answer }
    routes.fetches.set(requester, fetch)
    if (!this.#assign(routes, fetch)) routes.waiting.push(fetch)
  }

  /** A fetch ended: `have` if the requester now holds the blob (and may serve it), else it gave up or went away. */
  done(hash: string, requester: string, have: boolean): void {
    const routes = this.#blobs.get(hash)
    if (routes === undefined) return
    const fetch = routes.fetches.get(requester)
    if (fetch !== undefined) {
      routes.fetches.delete(requester)
      this.#release(routes, fetch)
      routes.waiting = routes.waiting.filter((f) => f !== fetch)
    }
    if (have && !routes.holders.has(requester)) routes.holders.set(requester, 0)
    this.#drain(routes)
  }

  /** A node left the mesh: it serves nothing any more. */
  gone(peer: string): void {
    for (const [hash, routes] of this.#blobs) {
      routes.holders.delete(peer)
      this.done(hash, peer, false)
    }
  }

  /** How many fetches of a blob the head itself serves now (for tests and stats). */
  headLoad(hash: string): number {
    return this.#blobs.get(hash)?.headLoad ?? 0
  }

  #assign(routes: BlobRoutes, fetch: Fetch): boolean {
    let source: BlobSource | undefined
    if (!fetch.direct) {
      let least = this.#perSource
      for (const [peer, load] of routes.holders) {
        if (peer !== fetch.requester && load < least) {
          least = load
          source = { peer }
        }
      }
    }
    // Once a node has the blob the head sends it only to nodes that could get it nowhere else.
    const headMay = fetch.direct || (routes.holders.size === 0 && routes.headLoad < this.#perSource)
    if (source === undefined && headMay) source = 'head'
    if (source === undefined) return false
    if (source === 'head') routes.headLoad++
    else routes.holders.set(source.peer, (routes.holders.get(source.peer) ?? 0) + 1)
    fetch.source = source
    fetch.answer(source)
    return true
  }

  #release(routes: BlobRoutes, fetch: Fetch): void {
    const source = fetch.source
    if (source === undefined) return
    fetch.source = undefined
    if (source === 'head') routes.headLoad--
    else if (routes.holders.has(source.peer))
      routes.holders.set(source.peer, (routes.holders.get(source.peer) ?? 1) - 1)
  }

  #drain(routes: BlobRoutes): void {
    while (routes.waiting.length > 0 && this.#assign(routes, routes.waiting[0] as Fetch)) routes.waiting.shift()
  }
}

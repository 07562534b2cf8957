import { type BlobSource, BlobSources } from '@meshpool/core'
import { describe, expect, it } from 'vitest'

const H = 'a'.repeat(64)

/** Asks for the blob on behalf of each node and records where each was sent (undefined: still waiting). */
function ask(sources: BlobSources, nodes: string[], direct = false): Map<string, BlobSource | undefined> {
  const answers = new Map<string, BlobSource | undefined>()
  for (const node of nodes) {
    answers.set(node, undefined)
    sources.request(H, node, direct, (source) => answers.set(node, source))
  }
  return answers
}

describe('BlobSources', () => {
  it('the head serves the first few and holds the rest until a node has the blob', () => {
    const sources = new BlobSources(2)
    sources.add(H)
    const answers = ask(sources, ['n1', 'n2', 'n3', 'n4', 'n5'])
    expect([...answers.values()]).toEqual(['head', 'head', undefined, undefined, undefined])
    expect(sources.headLoad(H)).toBe(2)
    sources.done(H, 'n1', true)
    // n1 now serves two of the waiting; the head sends no more copies now that a node has one.
    expect(answers.get('n3')).toEqual({ peer: 'n1' })
    expect(answers.get('n4')).toEqual({ peer: 'n1' })
    expect(answers.get('n5')).toBeUndefined()
    expect(sources.headLoad(H)).toBe(1)
    sources.done(H, 'n2', true)
    expect(answers.get('n5')).toEqual({ peer: 'n2' })
  })

  it('spreads over holders as a tree: no source serves more than its share at once, and the head sends 3 copies in all', () => {
    const sources = new BlobSources(3)
    sources.add(H)
    const nodes = Array.from({ length: 40 }, (_, i) => `n${i}`)
    const answers = ask(sources, nodes)
    const load = new Map<string, number>()
    const counted = new Set<string>()
    let served = 0
    let headCopies = 0
    // Finish fetches in rounds until every node has the blob, checking each source's load as we go.
    while (served < nodes.length) {
      load.clear()
      const active = [...answers].filter(([, source]) => source !== undefined)
      for (const [node, source] of active) {
        const key = source === 'head' ? 'head' : (source as { peer: string }).peer
        if (source === 'head' && !counted.has(node)) {
          counted.add(node)
          headCopies++
        }
        load.set(key, (load.get(key) ?? 0) + 1)
      }
      for (const n of load.values()) expect(n).toBeLessThanOrEqual(3)
      expect(active.length).toBeGreaterThan(0)
      for (const [node] of active) {
        answers.delete(node)
        sources.done(H, node, true)
        served++
      }
    }
    expect(sources.headLoad(H)).toBe(0)
    expect(headCopies).toBe(3)
  })

  it('a node that could not fetch from a peer gets it from the head, and that peer is named no more', () => {
    const sources = new BlobSources(1)
    sources.add(H)
    ask(sources, ['n1'])
    sources.done(H, 'n1', true)
    const answers = ask(sources, ['n2'])
    expect(answers.get('n2')).toEqual({ peer: 'n1' })
    const retry = ask(sources, ['n2'], true)
    expect(retry.get('n2')).toBe('head')
    sources.done(H, 'n2', true)
    const later = ask(sources, ['n3'])
    expect(later.get('n3')).toEqual({ peer: 'n2' })
  })

  it('a requester that goes away frees its place, and a holder that leaves is named no more', () => {
    const sources = new BlobSources(1)
    sources.add(H)
    const first = ask(sources, ['n1', 'n2'])
    expect(first.get('n2')).toBeUndefined()
    sources.gone('n1')
    expect(first.get('n2')).toBe('head')
    sources.done(H, 'n2', true)
    sources.gone('n2')
    expect(ask(sources, ['n3']).get('n3')).toBe('head')
  })

  it('an unknown or removed blob sends the fetch to the head, which says it has none', () => {
    const sources = new BlobSources(1)
    expect(ask(sources, ['n1']).get('n1')).toBe('head')
    sources.add(H)
    ask(sources, ['n1'])
    const waiting = ask(sources, ['n2'])
    expect(waiting.get('n2')).toBeUndefined()
    sources.remove(H)
    expect(waiting.get('n2')).toBe('head')
  })
})

import { describe, expect, it } from 'vitest'
import { sortRevoked } from '../src/node/revoked-peers.js'

const self = '12D3KooWself'
const head = '12D3KooWhead'

describe('sortRevoked', () => {
  it('a node told that its head is revoked keeps the head, drops the others, and says so', () => {
    expect(sortRevoked([head, '12D3KooWother'], { self, head })).toEqual({
      leave: false,
      drop: ['12D3KooWother'],
      headNamed: true,
    })
  })

  it('a node told that it is revoked leaves, and never hangs up on itself', () => {
    const sorted = sortRevoked([self, '12D3KooWother'], { self, head })
    expect(sorted.leave).toBe(true)
    expect(sorted.drop).toEqual(['12D3KooWother'])
  })

  it('another node revoked: dropped once, nothing else', () => {
    expect(sortRevoked(['12D3KooWx', '12D3KooWx'], { self, head })).toEqual({
      leave: false,
      drop: ['12D3KooWx'],
      headNamed: false,
    })
  })
})

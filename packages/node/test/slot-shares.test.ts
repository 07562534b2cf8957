import { describe, expect, it } from 'vitest'
import { fairShares, mayRun, shareSlots } from '../src/head/fair-shares.js'

const node = (slots: number, shares?: Array<[number, number]>) => ({ slots, shares: shares && new Map(shares) })
const plain = (shares: Array<Map<number, number> | undefined>) => shares.map((s) => (s === undefined ? s : [...s]))

describe('fair shares of slots among waiting pools', () => {
  it('leave every node open when at most one pool waits', () => {
    expect(fairShares([node(2), node(4)], [7])).toEqual([undefined, undefined])
    expect(fairShares([node(2)], [])).toEqual([undefined])
  })

  it('split the slots evenly, the first pools taking what does not divide', () => {
    const shares = plain(fairShares([node(1), node(1), node(1)], [1, 2]))
    expect(shares).toEqual([[[1, 1]], [[1, 1]], [[2, 1]]])
  })

  it('keep slots on the pools they already run', () => {
    const shares = plain(fairShares([node(1, [[2, 1]]), node(1, [[1, 1]])], [1, 2]))
    expect(shares).toEqual([[[2, 1]], [[1, 1]]])
  })

  it('give a newly waiting pool its share from the nodes with slots to spare', () => {
    const shares = plain(fairShares([node(4, [[1, 4]]), node(2, [[1, 2]])], [1, 2]))
    expect(shares).toEqual([
      [
        [1, 3],
        [2, 1],
      ],
      [[2, 2]],
    ])
  })

  it('a node runs its share, helps other pools once its own have nothing queued, and never a pool it cannot load', () => {
    const queued = new Map([
      [1, 5],
      [2, 5],
    ])
    const count = (poolId: number) => queued.get(poolId) ?? 0
    const nodes = [0, 1].map(() => ({ slots: 1, shares: undefined, silent: false, unloadable: new Map() }))
    shareSlots(nodes, [1, 2], count)
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
    expect([mayRun(a, 1, count), mayRun(a, 2, count)]).toEqual([true, false])
    expect([mayRun(b, 1, count), mayRun(b, 2, count)]).toEqual([false, true])
    queued.set(1, 0)
    expect(mayRun(a, 2, count)).toBe(true)
    a.unloadable.set(2, 'no such package')
    expect(mayRun(a, 2, count)).toBe(false)
  })
})

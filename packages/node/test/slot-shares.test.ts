import { describe, expect, it } from 'vitest'
import { fairShares } from '../src/slot-shares.js'

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
})

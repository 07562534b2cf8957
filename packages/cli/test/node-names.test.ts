import type { NodeInfo } from '@meshpool/node'
import { describe, expect, it } from 'vitest'
import { pickNodes } from '../src/node-names.js'

const node = (nodeId: string, name: string) => ({ nodeId, name }) as NodeInfo
const nodes = [node('12D3KooWaaa', 'gpu1'), node('12D3KooWbbb', 'twin'), node('12D3KooWccc', 'twin')]

describe('meshpool stop: which nodes the words name', () => {
  it('takes peer ids and names only one node has; a word naming none is undefined', () => {
    expect(pickNodes(nodes, ['12D3KooWbbb', 'gpu1', 'nobody'])).toEqual(['12D3KooWbbb', '12D3KooWaaa', undefined])
  })

  it('refuses a name two nodes share, listing their peer ids', () => {
    expect(() => pickNodes(nodes, ['twin'])).toThrow(
      '2 nodes are called twin: 12D3KooWbbb, 12D3KooWccc. Give the peer id of the one to stop',
    )
  })
})

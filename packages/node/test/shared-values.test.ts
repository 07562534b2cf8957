import { createHash } from 'node:crypto'
import type { ClientMessage, HeadToClientMessage } from '@meshpool/core'
import { describe, expect, it } from 'vitest'
import { HeadService } from '../src/head/head-service.js'
import { SharedValues } from '../src/head/shared-values.js'
import { NodeShares } from '../src/node/node-shares.js'
import { RecordingChannel } from './head-fakes.js'

const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex')

describe("the head's shared values", () => {
  it('keeps one copy of the same bytes for two pools, until the last of them lets go', () => {
    const values = new SharedValues(100)
    const data = new Uint8Array(40)
    expect(values.add(1, data)).toEqual({ hash: sha(data) })
    expect(values.add(2, data)).toEqual({ hash: sha(data) })
    expect(values.bytes).toBe(40)
    expect(values.drop(1, [sha(data)])).toEqual([])
    expect(values.get(sha(data))).toBe(data)
    expect(values.poolClosed(2)).toEqual([sha(data)])
    expect(values.get(sha(data))).toBeUndefined()
    expect(values.bytes).toBe(0)
  })

  it('refuses a value past its byte budget, saying how much it holds and what to do', () => {
    const values = new SharedValues(100)
    values.add(1, new Uint8Array(60))
    const outcome = values.add(2, new Uint8Array(60).fill(1))
    expect(outcome).toEqual({
      refused: expect.stringMatching(
        /holds 0\.0 MiB of shared values.*limit of 0\.0 MiB: unshare values the pool no longer needs \(pool\.unshare\(ref\)\) first/,
      ),
    })
    expect(values.bytes).toBe(60)
  })

  it('says how much room is left, and a refusal names the sizes', () => {
    const values = new SharedValues(3 * 1024 * 1024)
    values.add(1, new Uint8Array(1024 * 1024))
    expect(values.room).toBe(2 * 1024 * 1024)
    expect(values.refusal(5 * 1024 * 1024)).toMatch(
      /holds 1\.0 MiB of shared values, and this one \(5\.0 MiB\) would pass its limit of 3\.0 MiB/,
    )
  })

  it("a pool can't drop what another pool shared", () => {
    const values = new SharedValues(100)
    const data = new Uint8Array(10)
    values.add(1, data)
    expect(values.drop(2, [sha(data)])).toEqual([])
    expect(values.get(sha(data))).toBe(data)
  })
})

describe("a node's shared values", () => {
  it('fetches a value once however many slots ask at once, and keeps it while a pool that used it is open', async () => {
    let fetches = 0
    const data = new Uint8Array([7])
    const shares = new NodeShares(async () => {
      fetches++
      await new Promise((resolve) => setImmediate(resolve))
      return data
    })
    const got = await Promise.all([shares.value(1, 'h'), shares.value(1, 'h'), shares.value(2, 'h')])
    expect(got.every((d) => d === data)).toBe(true)
    expect(fetches).toBe(1)
    expect(shares.poolClosed(1)).toEqual([])
    expect(shares.get('h')).toBe(data)
    expect(shares.poolClosed(2)).toEqual(['h'])
    expect(shares.get('h')).toBeUndefined()
  })

  it('a failed fetch says which value and why, and the next job tries again', async () => {
    let fail = true
    const shares = new NodeShares(async () => {
      if (fail) throw new Error('the head no longer holds blob hhhh')
      return new Uint8Array([1])
    })
    await expect(shares.value(1, 'h'.repeat(64))).rejects.toThrow(
      /SharedValueError|the shared value hhhhhhhhhhhh… could not be fetched \(the head no longer holds blob hhhh\)/,
    )
    fail = false
    expect([...(await shares.value(1, 'h'.repeat(64)))]).toEqual([1])
  })
})

describe('a share in parts, at the head', () => {
  const open = (head: HeadService) => {
    const channel = new RecordingChannel<ClientMessage, HeadToClientMessage>()
    head.attachClient(channel)
    channel.handlers?.message({ type: 'open', worker: 'w.js', init: new Uint8Array(), settings: {} })
    return channel
  }
  const part = (reqId: number, offset: number, total: number, bytes: number): ClientMessage => ({
    type: 'share',
    reqId,
    value: new Uint8Array(bytes).fill(1),
    offset,
    total,
  })

  it('is held once its last part is in, under the hash of the whole', () => {
    const head = new HeadService({ sharedBytes: 100 })
    const client = open(head)
    client.handlers?.message(part(1, 0, 10, 6))
    expect(client.of('shared')).toEqual([])
    client.handlers?.message(part(1, 6, 10, 4))
    const [reply] = client.of('shared')
    expect(reply).toEqual({ type: 'shared', reqId: 1, hash: sha(new Uint8Array(10).fill(1)) })
    expect(head.sharedValue(reply?.hash as string)?.byteLength).toBe(10)
  })

  it('a whole size past the room left is refused at its first part (values still coming count), before any is kept', () => {
    const head = new HeadService({ sharedBytes: 100 })
    const first = open(head)
    first.handlers?.message(part(1, 0, 80, 10))
    const second = open(head)
    second.handlers?.message(part(2, 0, 30, 10))
    expect(second.of('shared')).toEqual([
      { type: 'shared', reqId: 2, refused: expect.stringMatching(/would pass its limit/) },
    ])
    expect(second.closed).toBe(false)
  })

  it('a part out of order cuts the client off', () => {
    const head = new HeadService({ sharedBytes: 100 })
    const client = open(head)
    client.handlers?.message(part(1, 0, 10, 4))
    client.handlers?.message(part(1, 6, 10, 4))
    expect(client.closed).toBe(true)
  })
})

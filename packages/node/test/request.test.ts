import { describe, expect, it } from 'vitest'
import { channelPair } from '../src/net/memory-channel.js'
import { requestOnce } from '../src/net/request.js'

type Ask = { type: 'ask'; n: number }
type Reply = { type: 'other' } | { type: 'answer'; n: number } | { type: 'refused'; why: string }

/** A server side that answers each request with the given replies, in order. */
function server(replies: (ask: Ask) => Reply[]) {
  const [client, side] = channelPair<Reply, Ask>()
  let closed = false
  side.start({
    message: (ask) => {
      for (const reply of replies(ask)) side.send(reply)
    },
    close: () => {
      closed = true
    },
  })
  return { client, side, closed: () => closed }
}

const answer = (reply: Reply): number | undefined => {
  if (reply.type === 'refused') throw new Error(`refused: ${reply.why}`)
  return reply.type === 'answer' ? reply.n : undefined
}

describe('requestOnce', () => {
  it('resolves with the first reply it accepts, skipping others, and closes the channel', async () => {
    const { client, closed } = server((ask) => [{ type: 'other' }, { type: 'answer', n: ask.n * 2 }])
    await expect(requestOnce(client, { request: { type: 'ask', n: 21 }, answer, closedBefore: 'gone' })).resolves.toBe(
      42,
    )
    await new Promise((resolve) => setImmediate(resolve))
    expect(closed()).toBe(true)
  })

  it('rejects with what answer throws', async () => {
    const { client } = server(() => [{ type: 'refused', why: 'not listed' }])
    await expect(requestOnce(client, { request: { type: 'ask', n: 1 }, answer, closedBefore: 'gone' })).rejects.toThrow(
      'refused: not listed',
    )
  })

  it('rejects, naming why, when the other side closes before answering', async () => {
    const { client, side } = server(() => [])
    const asked = requestOnce(client, { request: { type: 'ask', n: 1 }, answer, closedBefore: 'the head hung up' })
    side.close()
    await expect(asked).rejects.toThrow('the head hung up')
  })

  it('rejects when the signal aborts first', async () => {
    const { client } = server(() => [])
    const controller = new AbortController()
    const asked = requestOnce(client, {
      request: { type: 'ask', n: 1 },
      answer,
      closedBefore: 'gone',
      signal: controller.signal,
    })
    controller.abort(new Error('timed out'))
    await expect(asked).rejects.toThrow('timed out')
  })
})

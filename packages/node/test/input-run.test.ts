import { encodeValue } from '@meshpool/core'
import { describe, expect, it } from 'vitest'
import { waitFor } from '../../../test/wait-for.js'
import { InputRun } from '../src/client/input-run.js'
import type { PoolClient } from '../src/client/pool-client.js'
import { ProgressWatch } from '../src/client/progress.js'

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}

/**
 * A call over 1,000 inputs on a client whose jobs end only when the test says:
 * the first job ends once the window is out, and the head says then that its
 * nodes have `room` for more. Returns how many jobs the call has out after that.
 */
async function outAfterRoom(options: { window: number; grows: boolean; room: number; input?: unknown }) {
  const ends: Array<() => void> = []
  let room = 0
  const client = {
    takeRoom: () => {
      const taken = room
      room = 0
      return taken
    },
    submit: () => {
      const result = new Promise<Uint8Array>((resolve) => ends.push(() => resolve(encodeValue(1))))
      return { id: ends.length, result }
    },
    cancel: () => {},
  }
  const call = new InputRun({
    client: client as unknown as PoolClient,
    inputs: Array.from({ length: 1000 }, () => options.input ?? 1)[Symbol.iterator](),
    window: options.window,
    grows: options.grows,
    timeoutMs: 0,
    settle: false,
    signal: undefined,
    progress: new ProgressWatch(() => {}),
    tracker: undefined,
  }).outcomes()
  const first = call.next()
  await waitFor(() => ends.length === options.window, 2000, 'the first window of jobs')
  room = options.room
  ends[0]?.()
  await first
  await waitFor(() => ends.length > options.window, 2000, 'the next job')
  await turns(20)
  await call.return(undefined)
  return ends.length - 1
}

describe("a map call's window", () => {
  it('grows by the room the head says its nodes have, when the call has the default window', async () => {
    // The window is out again after the first result (4), and the nodes have room for 10 more: 14.
    expect(await outAfterRoom({ window: 4, grows: true, room: 10 })).toBe(14)
  })

  it('does not grow for a room of less than a quarter of the window: that is results on their way back', async () => {
    expect(await outAfterRoom({ window: 8, grows: true, room: 1 })).toBe(8)
  })

  it('stays as the caller set it', async () => {
    expect(await outAfterRoom({ window: 4, grows: false, room: 10 })).toBe(4)
  })

  it('does not grow while the params out are big', async () => {
    // Three params of 22 MiB still out are over the 64 MiB that a window may grow with.
    const input = new Uint8Array(22 * 1024 * 1024)
    expect(await outAfterRoom({ window: 4, grows: true, room: 10, input })).toBe(4)
  })
})

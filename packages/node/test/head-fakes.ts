import type { HeadToNodeMessage, NodeMessage } from '@meshpool/core'
import type { NodeSession } from '../src/head/head-types.js'
import type { Channel, ChannelHandlers } from '../src/net/channel.js'

/** A channel whose far side is the test: what the code under test sends is kept in `sent`. */
export class RecordingChannel<In, Out extends { type: string }> implements Channel<In, Out> {
  readonly sent: Out[] = []
  readonly queuedBytes = 0
  whenSent(): Promise<void> {
    return Promise.resolve()
  }
  handlers: ChannelHandlers<In> | undefined
  closed = false

  start(handlers: ChannelHandlers<In>): void {
    this.handlers = handlers
  }

  send(message: Out): void {
    this.sent.push(message)
  }

  close(): void {
    this.closed = true
  }

  /** The messages of one type sent so far. */
  of<T extends Out['type']>(type: T): Array<Extract<Out, { type: T }>> {
    return this.sent.filter((m): m is Extract<Out, { type: T }> => m.type === type)
  }
}

/** A node as the head keeps it, joined with `slots` slots, on a recording channel. */
export function nodeSession(id: string, slots = 1): NodeSession {
  return {
    id,
    name: id,
    slots,
    wanted: 0,
    channel: new RecordingChannel<NodeMessage, HeadToNodeMessage>(),
    poolsSent: new Set(),
    local: false,
    silent: false,
    unloadable: new Map(),
    addrs: [],
    remoteIp: undefined,
    gpus: [],
    slotStates: [],
    done: 0,
    failed: 0,
    joinedAt: 0,
    lastHeartbeat: 0,
  }
}

/** Lets in-memory channels deliver what is on its way, until `condition` holds (no real time passes). */
export async function until(condition: () => boolean, what: string): Promise<void> {
  for (let round = 0; round < 200; round++) {
    if (condition()) return
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error(`never happened: ${what}`)
}

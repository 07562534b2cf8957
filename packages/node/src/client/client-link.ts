import type { ClientMessage, HeadToClientMessage } from '@meshpool/core'
import type { Channel } from '../net/channel.js'

export type ClientChannel = Channel<HeadToClientMessage, ClientMessage>

/** What the parts of a {@link PoolClient} share. */
export interface ClientLink {
  /** The channel of the connection of now; undefined while the client reconnects. */
  channel(): ClientChannel | undefined
  /** Why the pool closed, once it has: calls after that are refused with it. */
  closed(): Error | undefined
  /** A request id of its own (updates and requests take theirs from one sequence). */
  nextReqId(): number
  /** What waits on the pool changed (the process is held while anything does). */
  changed(): void
}

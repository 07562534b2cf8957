/**
 * The one door from client code to the head and node roles (the linter keeps
 * it so): a mesh inside the caller's process, for createPool without `head`,
 * and the node option that launchWorkers checks before it starts a node.
 */
import type { ClientMessage, HeadToClientMessage } from '@meshpool/core'
import { HeadService } from '../head/head-service.js'
import { localShares } from '../head/head-shares.js'
import { attachLocalAgent } from '../head/local-slots.js'
import type { Channel } from '../net/channel.js'
import { channelPair } from '../net/memory-channel.js'
import { NodeAgent } from '../node/agent.js'
import { defaultSlots } from '../node/gpus.js'

export { parseGpuSelection } from '../node/gpus.js'

/** A head and a node agent with local slots, in this process. */
export interface EmbeddedMesh {
  /** The client's side of its channel to the head. */
  channel: Channel<HeadToClientMessage, ClientMessage>
  /** Stops the head and the slots. */
  close(): Promise<void>
}

export function startEmbeddedMesh(options: {
  /** @default defaultSlots() */
  slots: number | undefined
  /** Lines a worker prints after its pool closed (dispose()). */
  onLateLine: (line: string) => void
}): EmbeddedMesh {
  const head = new HeadService({ alone: true })
  head.start()
  const agent = new NodeAgent({
    slots: options.slots ?? defaultSlots(),
    name: 'local',
    onLateLine: options.onLateLine,
    shares: localShares(head),
  })
  agent.start()
  attachLocalAgent(head, agent)
  const [clientSide, headSide] = channelPair<HeadToClientMessage, ClientMessage>()
  head.attachClient(headSide)
  return {
    channel: clientSide,
    close: async () => {
      head.close()
      await agent.stop()
    },
  }
}

import { hostname } from 'node:os'
import { dirname, join } from 'node:path'
import { logger } from '@libp2p/logger'
import type { HeadToNodeMessage, NodeMessage } from '@meshpool/core'
import { channelPair } from '../net/memory-channel.js'
import type { MeshPeer } from '../net/peer.js'
import { NodeAgent } from '../node/agent.js'
import { ClientRoutes } from '../node/client-routes.js'
import { CodeCache } from '../node/code-cache.js'
import { type SlotSetup, type SlotUser, setUpSlots } from '../node/slot-user.js'
import type { HeadInit } from './head-options.js'
import type { HeadService } from './head-service.js'
import { localShares } from './head-shares.js'

type LocalSlotOptions = Pick<HeadInit, 'gpus' | 'onLine'> & {
  slots: number
  /** The head's identity file: shipped code is cached in `code/` beside it. */
  keyFile: string
  slotUser: SlotUser | undefined
  /** The head's peer: its slots reach clients on the head's own connections to them. */
  peer: MeshPeer
}

/** The head's own slots: a node agent in its process, on an in-memory channel to the head service. */
export class LocalSlots {
  readonly #options: LocalSlotOptions
  #agent: NodeAgent | undefined
  #setup: SlotSetup | undefined

  constructor(options: LocalSlotOptions) {
    this.#options = options
  }

  async start(head: HeadService): Promise<void> {
    if (this.#agent !== undefined) return
    const { slots, gpus, slotUser, onLine, keyFile } = this.#options
    const code = new CodeCache(join(dirname(keyFile), 'code'), async (hash) => head.code(hash), onLine)
    this.#setup = await setUpSlots(slotUser, (hash) => code.path(hash))
    this.#agent = new NodeAgent({
      slots,
      name: `${hostname()} (head)`,
      ...(gpus === undefined ? {} : { gpus }),
      modulePath: this.#setup.modulePath,
      shares: localShares(head),
      routes: new ClientRoutes(this.#options.peer, () => this.#options.peer.peerId, logger('meshpool:blobs:head')),
      ...(slotUser === undefined ? {} : { slotUser }),
      ...(onLine === undefined ? {} : { onLine }),
    })
    this.#agent.start()
    attachLocalAgent(head, this.#agent)
  }

  async stop(): Promise<void> {
    const agent = this.#agent
    const setup = this.#setup
    this.#agent = undefined
    this.#setup = undefined
    await agent?.stop()
    await setup?.close()
  }
}

/** Runs a node agent inside the head's process, over an in-memory channel. */
export function attachLocalAgent(head: HeadService, agent: NodeAgent): void {
  const [agentSide, headSide] = channelPair<HeadToNodeMessage, NodeMessage>()
  head.attachNode('local', headSide, { local: true })
  void agent.connect(agentSide)
}

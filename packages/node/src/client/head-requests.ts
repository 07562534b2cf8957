import { AdminRefusedError, type ClientMessage, type HeadToClientMessage, type NodeInfo } from '@meshpool/core'
import type { ClientLink } from './client-link.js'

type RequestMessage = Extract<ClientMessage, { type: 'stats' | 'revoke' | 'nodes' | 'stopNodes' }>
/** The head's answers to requests, each naming its request's id. */
export type RequestReply = Extract<HeadToClientMessage, { type: 'stats' | 'revoked' | 'nodes' | 'stopping' }>

interface OpenRequest {
  message: RequestMessage
  resolve(reply: HeadToClientMessage): void
  reject(err: Error): void
}

/**
 * A pool's requests to its head (stats, and the admin calls): each waits for
 * the answer with its request id, and is sent again after a reconnect.
 */
export class HeadRequests {
  readonly #link: ClientLink
  readonly #open = new Map<number, OpenRequest>()

  constructor(link: ClientLink) {
    this.#link = link
  }

  /** Requests waiting for their answer. */
  get size(): number {
    return this.#open.size
  }

  async stats(): Promise<{ slots: number; nodes: number }> {
    const r = await this.#ask({ type: 'stats', reqId: this.#link.nextReqId() })
    return r.type === 'stats' ? { slots: r.workers, nodes: r.nodes } : { slots: 0, nodes: 0 }
  }

  /** Asks the head to revoke a peer; resolves with whether it had ever joined. `adminKey`: see adminRefusal. */
  async revoke(peerId: string, adminKey?: string): Promise<boolean> {
    const reply = await this.#ask({
      type: 'revoke',
      reqId: this.#link.nextReqId(),
      peerId,
      ...(adminKey === undefined ? {} : { adminKey }),
    })
    if (reply.type === 'revoked' && reply.refused !== undefined)
      throw new AdminRefusedError(`the head refused: ${reply.refused}`)
    return reply.type === 'revoked' && reply.known
  }

  /** Every node of the mesh, as the head sees it. */
  async nodes(): Promise<NodeInfo[]> {
    const reply = await this.#ask({ type: 'nodes', reqId: this.#link.nextReqId() })
    return reply.type === 'nodes' ? reply.nodes : []
  }

  /** Asks nodes to leave gracefully; resolves with those that were there. */
  async stopNodes(nodeIds: string[], adminKey?: string): Promise<string[]> {
    const reply = await this.#ask({
      type: 'stopNodes',
      reqId: this.#link.nextReqId(),
      nodeIds,
      ...(adminKey === undefined ? {} : { adminKey }),
    })
    if (reply.type === 'stopping' && reply.refused !== undefined)
      throw new AdminRefusedError(`the head refused: ${reply.refused}`)
    return reply.type === 'stopping' ? reply.nodeIds : []
  }

  /** The head answered a request. */
  answer(reply: RequestReply): void {
    const request = this.#open.get(reply.reqId)
    this.#open.delete(reply.reqId)
    this.#link.changed()
    request?.resolve(reply)
  }

  /** After a reconnect: every request still waiting is sent again. */
  resend(): void {
    for (const request of this.#open.values()) this.#link.channel()?.send(request.message)
  }

  /** The pool closed or the head is gone: every request waiting rejects with `reason`. */
  fail(reason: Error): void {
    for (const request of this.#open.values()) request.reject(reason)
    this.#open.clear()
  }

  #ask(message: RequestMessage): Promise<HeadToClientMessage> {
    const closed = this.#link.closed()
    if (closed !== undefined) return Promise.reject(closed)
    const reply = new Promise<HeadToClientMessage>((resolve, reject) =>
      this.#open.set(message.reqId, { message, resolve, reject }),
    )
    this.#link.changed()
    this.#link.channel()?.send(message)
    return reply
  }
}

import {
  type HeadToNodeMessage,
  type JobOutcome,
  type JobProgress,
  type NodeMessage,
  NodeRefusedError,
  type SlotStateName,
} from '@meshpool/core'
import type { Channel } from '../net/channel.js'
import { HeadReports } from './head-reports.js'

/** Heartbeats go out at this fraction of the shortest lease held. */
const HEARTBEAT_FRACTION = 1 / 3
const DEFAULT_HEARTBEAT_MS = 1000
/**
 * While the node holds no job, heartbeats go out this often (or at the lease
 * cadence, if that is slower): there is no lease to renew, and a mesh of 1,000
 * idle nodes costs the head a fifth of the frames. A lease that arrives brings
 * the lease cadence back at once.
 */
export const IDLE_HEARTBEAT_MS = 5000

type Hello = Extract<NodeMessage, { type: 'hello' }>

export interface HeadLinkInit {
  /** What the node tells the head as it connects. */
  hello: () => Hello
  /** What the head sends, once the link has taken what is its own (welcome, refusal). */
  onMessage: (message: HeadToNodeMessage) => void
  /** The shortest lease of the pools held (infinite with none): heartbeats renew them in time. */
  shortestLeaseMs: () => number
  /** Whether the node holds a leased job (queued, running, or waiting in a slot): else heartbeats slow down. */
  holding: () => boolean
  /** What each slot is doing, for `meshpool status`. */
  slotStates: () => SlotStateName[]
  /** The node's own log. */
  onLine?: (line: string) => void
}

/**
 * A node's link to its head, over one connection after another: it says
 * hello, waits to be welcomed (or refused), renews the node's leases by
 * heartbeat, keeps count of the jobs asked for and not yet leased (credits),
 * and sends the node's reports, batched.
 */
export class HeadLink {
  readonly #init: HeadLinkInit
  readonly #reports: HeadReports
  #channel: Channel<HeadToNodeMessage, NodeMessage> | undefined
  #nodeId = ''
  /** Jobs asked for with `pull` and not yet leased. */
  #requested = 0
  #welcomeWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = []
  #refusal: Error | undefined
  #heartbeat: NodeJS.Timeout | undefined
  /** The heartbeat due is at the idle cadence. */
  #idle = false
  #started = false
  /** The node is leaving: the heartbeat due still goes out, and none after it. */
  #leaving = false
  #stopped = false

  constructor(init: HeadLinkInit) {
    this.#init = init
    this.#reports = new HeadReports({
      send: (message) => this.send(message),
      welcomed: () => this.#channel !== undefined && this.#nodeId !== '',
      ...(init.onLine === undefined ? {} : { onLine: init.onLine }),
    })
  }

  /** The current connection (undefined between two): a pool's load failure is told once on each. */
  get connection(): object | undefined {
    return this.#channel
  }

  /** The id the head gave this node on the current connection; '' until it welcomes the node. */
  get nodeId(): string {
    return this.#nodeId
  }

  /** Heartbeats run from now on, while connected. */
  start(): void {
    if (this.#started) return
    this.#started = true
    this.leasesChanged()
  }

  /** Serves the head on a channel; resolves with the reason once it closes. */
  connect(channel: Channel<HeadToNodeMessage, NodeMessage>): Promise<Error | undefined> {
    this.#channel = channel
    this.#requested = 0
    this.#nodeId = ''
    return new Promise((resolve) => {
      channel.start({
        message: (message) => this.#onMessage(message),
        close: (reason) => {
          if (this.#channel === channel) this.#channel = undefined
          resolve(reason)
        },
      })
      channel.send(this.#init.hello())
      this.leasesChanged()
    })
  }

  /** Resolves once the head has welcomed this node on the current connection. */
  welcomed(): Promise<void> {
    if (this.#nodeId !== '') return Promise.resolve()
    if (this.#refusal !== undefined) return Promise.reject(this.#refusal)
    return new Promise((resolve, reject) => this.#welcomeWaiters.push({ resolve, reject }))
  }

  send(message: NodeMessage): void {
    this.#channel?.send(message)
  }

  /** Jobs the head leased: they no longer count as asked for, and heartbeats renew them in time. */
  leased(count: number): void {
    this.#requested = Math.max(0, this.#requested - count)
    if (count > 0 && this.#idle) this.#schedule(false)
  }

  /** Asks the head for jobs, up to `want` held or asked for, once that is `atLeast` more (once welcomed). */
  pull(want: number, atLeast = 1): void {
    if (this.#channel === undefined || this.#nodeId === '') return
    const n = want - this.#requested
    if (n <= 0 || n < atLeast) return
    this.#requested += n
    this.#channel.send({ type: 'pull', n })
  }

  result(outcome: JobOutcome): void {
    this.#reports.result(outcome)
  }

  progress(report: JobProgress): void {
    this.#reports.progress(report)
  }

  /** A line for the node's log; with a pool, for that pool's client too (when the head still serves it). */
  line(line: string, poolId?: number): void {
    this.#reports.line(line, poolId)
  }

  flushResults(): void {
    this.#reports.flushResults()
  }

  /** The pools held changed: heartbeats follow the shortest lease (slower while no job is held). */
  leasesChanged(): void {
    this.#schedule(!this.#init.holding())
  }

  #schedule(idle: boolean): void {
    clearTimeout(this.#heartbeat)
    if (!this.#started || this.#leaving || this.#stopped || this.#channel === undefined) return
    const leaseMs = this.#init.shortestLeaseMs()
    const leaseEvery = Number.isFinite(leaseMs)
      ? Math.max(50, Math.floor(leaseMs * HEARTBEAT_FRACTION))
      : DEFAULT_HEARTBEAT_MS
    this.#idle = idle
    const every = idle ? Math.max(leaseEvery, IDLE_HEARTBEAT_MS) : leaseEvery
    // Heartbeats come from this process, never from a busy slot.
    this.#heartbeat = setTimeout(() => {
      this.send({ type: 'heartbeat', slotStates: this.#init.slotStates() })
      this.leasesChanged()
    }, every)
    this.#heartbeat.unref()
  }

  /** The node begins to stop: no heartbeat is scheduled after the one due. */
  leave(): void {
    this.#leaving = true
  }

  /** Sends what is held and closes the connection. */
  stop(): void {
    if (this.#stopped) return
    this.#stopped = true
    clearTimeout(this.#heartbeat)
    this.#reports.flushResults()
    this.#reports.flushOutput()
    this.#channel?.close()
  }

  #onMessage(message: HeadToNodeMessage): void {
    if (message.type === 'welcome') {
      this.#nodeId = message.nodeId
      for (const waiter of this.#welcomeWaiters.splice(0)) waiter.resolve()
      this.#reports.flushResults()
    } else if (message.type === 'refused') {
      this.#refusal = new NodeRefusedError(`the head refused this node: ${message.message}`)
      for (const waiter of this.#welcomeWaiters.splice(0)) waiter.reject(this.#refusal)
      return
    }
    this.#init.onMessage(message)
  }
}

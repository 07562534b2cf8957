import { logger } from '@libp2p/logger'
import { type HeadToClientMessage, type NodeInfo, PoolClosedError, type PoolSettingsWire } from '@meshpool/core'
import type { ClientChannel, ClientLink } from './client-link.js'
import type { ClientParams } from './client-params.js'
import type { ClientResults } from './client-results.js'
import { ClientShares } from './client-shares.js'
import { ClientUpdates } from './client-updates.js'
import { HeadRequests } from './head-requests.js'
import { HeadSession } from './head-session.js'
import { JobTable } from './job-table.js'
import { ProcessHold } from './process-hold.js'

const clientLog = logger('meshpool:client')

export interface PoolClientInit {
  worker: string
  init: Uint8Array
  settings: PoolSettingsWire
  /** The bundled worker module, shipped to the nodes through the head. */
  code?: Uint8Array
  /** Lines the pool's workers printed (and notes from the mesh). */
  onOutput?: (lines: string[]) => void
  /** Opens a new channel to the head after the old one broke; none for an in-process head. */
  reconnect?: () => Promise<ClientChannel>
  /** How long to keep trying to reach a head that went away before failing open calls. */
  reconnectTimeoutMs?: number
  /** Where the client's debug lines go (tag them to tell clients apart). @default the meshpool:client logger */
  log?: (line: string) => void
  /** Where big params wait for nodes to fetch them, and big results come; none: in frames (an in-process head). */
  big?: { params: ClientParams; results: ClientResults }
  /** Where this client listens for nodes fetching those (with /p2p/); none: they fetch through the head. */
  addrs?: string[]
}

/**
 * The client side of the client protocol: it batches submitted jobs into
 * frames, matches results to their callers, and cancels jobs. Every open job
 * is kept until its result arrives, so when the head restarts the client
 * reconnects, replays its updates and submits its open jobs again: every
 * result still arrives exactly once. The jobs ({@link JobTable}), updates
 * ({@link ClientUpdates}), requests ({@link HeadRequests}) and the connection
 * ({@link HeadSession}) are parts of their own; this class wires them.
 */
export class PoolClient {
  readonly #init: PoolClientInit
  readonly #log: (line: string) => void
  readonly #session: HeadSession
  readonly #jobs: JobTable
  readonly #updates: ClientUpdates
  readonly #shares: ClientShares
  readonly #requests: HeadRequests
  #nextReqId = 1
  #closedReason: Error | undefined
  #watching = false
  /** Keeps this process alive while any call waits on the pool (see {@link ProcessHold}). */
  readonly #hold = new ProcessHold()
  /** Told when an open job is leased (0) and when it reports progress; see {@link watch}. */
  onProgress: ((id: number, fraction: number) => void) | undefined
  /** What the head said with the last results: jobs its nodes asked for and it had none queued to give. */
  #room = 0

  constructor(init: PoolClientInit) {
    this.#init = init
    this.#log = init.log ?? ((line) => clientLog('%s', line))
    const link: ClientLink = {
      channel: () => this.#session.channel,
      closed: () => this.#closedReason,
      nextReqId: () => this.#nextReqId++,
      changed: () => this.#holdWhileOpen(),
    }
    this.#jobs = new JobTable(link, init.big)
    this.#updates = new ClientUpdates(link)
    this.#shares = new ClientShares(link)
    this.#requests = new HeadRequests(link)
    const { worker, init: workerInit, settings, code, addrs } = init
    this.#session = new HeadSession({
      open: {
        type: 'open',
        worker,
        init: workerInit,
        settings,
        ...(code === undefined ? {} : { code }),
        ...(addrs === undefined || addrs.length === 0 ? {} : { addrs }),
      },
      ...(init.reconnect === undefined ? {} : { reconnect: init.reconnect }),
      ...(init.reconnectTimeoutMs === undefined ? {} : { reconnectTimeoutMs: init.reconnectTimeoutMs }),
      log: this.#log,
      closed: () => this.#closedReason !== undefined,
      onConnect: () => {
        this.#updates.connected()
        this.#shares.connected()
      },
      onMessage: (message) => this.#onMessage(message),
      onResumed: () => this.#resume(),
      onGone: (reason) => this.#fail(reason),
    })
  }

  /** Jobs open: submitted and not yet settled. */
  get openJobs(): number {
    return this.#jobs.size
  }

  /** Opens the pool on the head over a channel. */
  async open(channel: ClientChannel): Promise<void> {
    await this.#session.open(channel)
  }

  /** Submits one job; resolves with its encoded result. Returns the job's id with the promise. */
  submit(params: Uint8Array, timeoutMs = 0): { id: number; result: Promise<Uint8Array> } {
    return this.#jobs.submit(params, timeoutMs)
  }

  /** The room the head told of last, once: the call that takes it fills it (see InputRun). */
  takeRoom(): number {
    const room = this.#room
    this.#room = 0
    return room
  }

  /** Cancels open jobs: their promises are settled by the caller; the head drops or stops them. */
  cancel(ids: number[]): void {
    this.#jobs.cancel(ids)
  }

  update(value: Uint8Array): Promise<number> {
    return this.#updates.add(value)
  }

  /** Sends a value's bytes for jobs to refer to; resolves with their hash once the head holds them. */
  share(bytes: Uint8Array): Promise<string> {
    return this.#shares.add(bytes)
  }

  /** Whether this pool holds a shared value by this hash. */
  holdsShared(hash: string): boolean {
    return this.#shares.has(hash)
  }

  /** Lets go of a shared value. */
  unshare(hash: string): void {
    this.#shares.drop(hash)
  }

  /** Working slots in the mesh, and nodes joined. */
  stats(): Promise<{ slots: number; nodes: number }> {
    return this.#requests.stats()
  }

  /** Asks the head to revoke a peer; resolves with whether it had ever joined. `adminKey`: see adminRefusal. */
  revoke(peerId: string, adminKey?: string): Promise<boolean> {
    return this.#requests.revoke(peerId, adminKey)
  }

  /** Every node of the mesh, as the head sees it. */
  nodes(): Promise<NodeInfo[]> {
    return this.#requests.nodes()
  }

  /** Asks nodes to leave gracefully; resolves with those that were there. */
  stopNodes(nodeIds: string[], adminKey?: string): Promise<string[]> {
    return this.#requests.stopNodes(nodeIds, adminKey)
  }

  /** Asks the head to say when each job is leased (progress 0), or to stop. */
  watch(on: boolean): void {
    if (this.#watching === on) return
    this.#watching = on
    this.#session.channel?.send({ type: 'watch', on })
  }

  close(): void {
    this.#jobs.flush()
    this.#fail(new PoolClosedError('the pool was closed before this call finished'))
    this.#session.close()
  }

  /** After a reconnect: replay the updates and the shared values, then the open jobs and requests. */
  #resume(): void {
    this.#log(`reconnected; resubmitting ${this.#jobs.size} open jobs`)
    if (this.#watching) this.#session.channel?.send({ type: 'watch', on: true })
    this.#updates.replay()
    // A big shared value goes in parts: the jobs that refer to it go after its last.
    void this.#shares.replay().then(() => {
      this.#jobs.resend()
      this.#requests.resend()
    })
  }

  #onMessage(message: HeadToClientMessage): void {
    switch (message.type) {
      case 'opened':
        this.#jobs.opened(message.maxOpenJobs)
        return
      case 'results':
        this.#room = message.room ?? 0
        for (const outcome of message.results) this.#jobs.settle(outcome)
        return
      case 'updated':
        this.#updates.logged(message.reqId, message.seq)
        return
      case 'shared':
        this.#shares.answered(message.reqId, message.hash, message.refused)
        return
      case 'stats':
      case 'revoked':
      case 'nodes':
      case 'stopping':
        this.#requests.answer(message)
        return
      case 'refused':
        this.#fail(new PoolClosedError(`the head refused this client: ${message.message}`))
        this.#session.close()
        return
      case 'output':
        this.#init.onOutput?.(message.lines)
        return
      case 'progress':
        for (const { id, fraction } of message.progress) if (this.#jobs.has(id)) this.onProgress?.(id, fraction)
        return
    }
  }

  #fail(reason: Error): void {
    if (this.#closedReason !== undefined) return
    this.#closedReason = reason
    this.#jobs.fail(reason)
    this.#requests.fail(reason)
    this.#updates.fail(reason)
    this.#shares.fail(reason)
    this.#holdWhileOpen()
  }

  /**
   * A call that waits on the pool keeps the process alive, whatever else does:
   * with an embedded head, a slot's restart and a job's retry wait on timers
   * that don't hold the process, and a crashed slot is no handle either.
   */
  #holdWhileOpen(): void {
    this.#hold.set(this.#jobs.size + this.#requests.size + this.#updates.waiting + this.#shares.waiting > 0)
  }
}

import { setTimeout as sleep } from 'node:timers/promises'
import { type JoinedNode, joinNode } from './harness.js'
import { prng } from './prng.js'
import { slotPids } from './proc-table.js'

/** A node stopped with SIGTERM must be gone by then (its jobs are a few ms long). */
const TERM_EXIT_MS = 10_000

export type Action = 'kill' | 'freeze' | 'term' | 'crashSlot'

interface ChaosNode {
  name: string
  proc: JoinedNode
  pid: number
  slots: number
  state: 'up' | 'frozen' | 'draining' | 'dead'
}

export interface ChaosReport {
  seed: number
  ranMs: number
  actions: Record<Action, number>
  /** An action was due but would have left no node up and unfrozen. */
  skipped: number
  nodesStarted: number
  /** Exit codes of the nodes stopped with SIGTERM (each should be 0). */
  termExits: Array<number | string>
  /** The longest SIGSTOP, in ms. */
  longestFreezeMs: number
  log: string[]
}

export interface ChaosOptions {
  head: string
  seed: number
  durationMs: number
  nodes: number
  /** Wait between actions, in ms. */
  gapMs: [number, number]
  /** How long a SIGSTOP lasts before SIGCONT, in ms. */
  freezeMs: [number, number]
  /** Relative weights of the actions. */
  weights: Record<Action, number>
}

/**
 * Joins nodes to a head and then, for a while, at random (seeded), kills and
 * replaces them, freezes and thaws them, stops them gracefully and replaces
 * them, and crashes their slot processes. At least one node stays up and
 * unfrozen at all times; nothing is left frozen when it stops.
 */
export class ChaosDriver {
  readonly nodes: ChaosNode[] = []
  /** Every slot process seen, to check none outlives the test. */
  readonly slotPidsSeen = new Set<number>()
  readonly #options: ChaosOptions
  readonly #rng: ReturnType<typeof prng>
  readonly #pending = new Set<Promise<unknown>>()
  readonly #thaws = new Map<ChaosNode, NodeJS.Timeout>()
  #stopRequested = false
  #wakeSleep: (() => void) | undefined
  #started = 0
  #count = 0
  readonly report: ChaosReport

  constructor(options: ChaosOptions) {
    this.#options = options
    this.#rng = prng(options.seed)
    this.report = {
      seed: options.seed,
      ranMs: 0,
      actions: { kill: 0, freeze: 0, term: 0, crashSlot: 0 },
      skipped: 0,
      nodesStarted: 0,
      termExits: [],
      longestFreezeMs: 0,
      log: [],
    }
  }

  /** Joins the first nodes, in parallel. */
  async setup(): Promise<void> {
    await Promise.all(Array.from({ length: this.#options.nodes }, () => this.#startNode()))
  }

  up(): ChaosNode[] {
    return this.nodes.filter((n) => n.state === 'up')
  }

  /** Runs the chaos until durationMs has passed or stop() is called; then thaws every frozen node. */
  async run(): Promise<ChaosReport> {
    this.#started = Date.now()
    const end = this.#started + this.#options.durationMs
    try {
      while (!this.#stopRequested && Date.now() < end) {
        await this.#sleep(Math.min(this.#rng.int(...this.#options.gapMs), Math.max(0, end - Date.now())))
        if (this.#stopRequested || Date.now() >= end) break
        this.noteSlots()
        await this.#act(this.#chooseAction())
      }
    } finally {
      this.report.ranMs = Date.now() - this.#started
      this.thawAll()
      await this.settle()
    }
    return this.report
  }

  /** Ends the chaos early (the map finished). */
  stop(): void {
    this.#stopRequested = true
    this.#wakeSleep?.()
  }

  /** Waits for replacements and drains the driver started. */
  async settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending])
  }

  /** SIGCONT for every frozen node, at once. Safe to call more than once. */
  thawAll(): void {
    for (const [node, timer] of this.#thaws) {
      clearTimeout(timer)
      this.#thaw(node)
    }
    this.#thaws.clear()
    // Belt and braces: a SIGCONT to every node ever started (a no-op on running or gone ones).
    for (const node of this.nodes) {
      try {
        node.proc.child.kill('SIGCONT')
      } catch {}
    }
  }

  /** Records the slot processes of every live node. */
  noteSlots(): void {
    for (const node of this.nodes) {
      if (node.state === 'dead') continue
      for (const pid of slotPids(node.pid)) this.slotPidsSeen.add(pid)
    }
  }

  #log(line: string): void {
    const at = ((Date.now() - (this.#started || Date.now())) / 1000).toFixed(2)
    this.report.log.push(`${at.padStart(6)}s ${line}`)
  }

  #chooseAction(): Action {
    const weights = this.#options.weights
    const total = Object.values(weights).reduce((a, b) => a + b, 0)
    let r = this.#rng.next() * total
    for (const [action, weight] of Object.entries(weights) as Array<[Action, number]>) {
      r -= weight
      if (r < 0) return action
    }
    return 'crashSlot'
  }

  async #act(action: Action): Promise<void> {
    const up = this.up()
    // kill, freeze and term take a node out of service: only while another one stays up.
    if (action !== 'crashSlot' && up.length < 2) {
      this.report.skipped++
      this.#log(`skip ${action}: only ${up.length} node(s) up`)
      return
    }
    if (up.length === 0) {
      this.report.skipped++
      return
    }
    const node = this.#rng.pick(up)
    if (action === 'kill') this.#kill(node)
    else if (action === 'freeze') this.#freeze(node)
    else if (action === 'term') this.#term(node)
    else this.#crashSlot(node)
  }

  #kill(node: ChaosNode): void {
    const slots = slotPids(node.pid)
    for (const pid of slots) this.slotPidsSeen.add(pid)
    node.state = 'dead'
    node.proc.child.kill('SIGKILL')
    this.report.actions.kill++
    this.#log(`SIGKILL ${node.name} (pid ${node.pid}, slots ${slots.join(',')}); starting a replacement`)
    this.#track(this.#startNode())
  }

  #freeze(node: ChaosNode): void {
    const ms = this.#rng.int(...this.#options.freezeMs)
    node.state = 'frozen'
    node.proc.child.kill('SIGSTOP')
    this.report.actions.freeze++
    this.report.longestFreezeMs = Math.max(this.report.longestFreezeMs, ms)
    this.#log(`SIGSTOP ${node.name} for ${ms} ms`)
    this.#thaws.set(
      node,
      setTimeout(() => {
        this.#thaws.delete(node)
        this.#thaw(node)
      }, ms),
    )
  }

  #term(node: ChaosNode): void {
    node.state = 'draining'
    node.proc.child.kill('SIGTERM')
    this.report.actions.term++
    this.#log(`SIGTERM ${node.name}; starting a replacement once it has left`)
    this.#track(
      (async () => {
        const code = await Promise.race([node.proc.exited, sleep(TERM_EXIT_MS).then(() => undefined)])
        if (code === undefined) {
          this.report.termExits.push(`still running ${TERM_EXIT_MS} ms after SIGTERM`)
          this.#log(`${node.name} did not exit within ${TERM_EXIT_MS} ms of SIGTERM; SIGKILL`)
          node.state = 'dead'
          node.proc.child.kill('SIGKILL')
          return
        }
        node.state = 'dead'
        this.report.termExits.push(code)
        this.#log(`${node.name} exited after SIGTERM with ${code}`)
        if (!this.#stopRequested) await this.#startNode()
      })(),
    )
  }

  #crashSlot(node: ChaosNode): void {
    const slots = slotPids(node.pid)
    if (slots.length === 0) {
      this.report.skipped++
      this.#log(`skip crashSlot: ${node.name} has no slot process right now`)
      return
    }
    const pid = this.#rng.pick(slots)
    this.slotPidsSeen.add(pid)
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
    this.report.actions.crashSlot++
    this.#log(`SIGKILL slot process ${pid} of ${node.name}`)
  }

  #thaw(node: ChaosNode): void {
    if (node.state !== 'frozen') return
    node.state = 'up'
    node.proc.child.kill('SIGCONT')
    this.#log(`SIGCONT ${node.name}`)
  }

  #track(promise: Promise<unknown>): void {
    const tracked = promise.catch((err: Error) => this.#log(`driver error: ${err.message}`))
    this.#pending.add(tracked)
    void tracked.finally(() => this.#pending.delete(tracked))
  }

  async #startNode(): Promise<void> {
    const slots = this.#rng.int(1, 2)
    const name = `n${++this.#count}`
    const proc = await joinNode(this.#options.head, slots)
    const pid = proc.child.pid as number
    const node: ChaosNode = { name, proc, pid, slots, state: 'up' }
    this.nodes.push(node)
    this.report.nodesStarted++
    for (const slot of slotPids(pid)) this.slotPidsSeen.add(slot)
    this.#log(`${name} joined with ${slots} slot(s) (pid ${pid}, ${proc.peerId.slice(-8)})`)
    void proc.exited.then((code) => {
      if ((node.state === 'up' || node.state === 'frozen') && !this.#stopRequested)
        this.#log(`${name} exited unexpectedly with ${code}`)
      node.state = 'dead'
    })
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms)
      function done(): void {
        clearTimeout(timer)
        resolve()
      }
      this.#wakeSleep = done
    }).then(() => {
      this.#wakeSleep = undefined
    })
  }
}

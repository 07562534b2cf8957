import { copyFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { type Head, startHead, tempDir, waitFor } from './harness.js'
import { get } from './http-get.js'
import { prng } from './prng.js'

export type HeadAction = 'killHead' | 'freezeHead'

/** A head of the pair, as it was first started: a restart uses the same key file, port and flags. */
interface ChaosHead {
  name: 'primary' | 'standby'
  keyFile: string
  port: number
  /** `--standby <primary>` for the standby, none for the primary. */
  args: string[]
  proc: Head
  frozen: boolean
}

export interface HeadChaosOptions {
  seed: number
  durationMs: number
  /** Wait before the first action, in ms. */
  firstMs: [number, number]
  /** Wait between actions, in ms (counted once both heads are settled again). */
  gapMs: [number, number]
  /** How long a SIGSTOP lasts before SIGCONT, in ms. */
  freezeMs: [number, number]
}

export interface HeadChaosReport {
  actions: Record<HeadAction, number>
  /** Each "takes over" line any head process printed. */
  takeovers: number
  log: string[]
}

/** A head settles into one role within this long of a restart or a SIGCONT; longer is a bug worth reporting. */
const SETTLE_MS = 15_000
/** Each head serves its dashboard, whose /api/state says whether a standby has heard the active head yet. */
const DASHBOARD = ['--dashboard-port', '0']

/**
 * A primary and its standby on 127.0.0.1, and, for a while (and at least until
 * there has been one of each), at seeded moments, a SIGKILL or a SIGSTOP of
 * whichever is active. A killed head is restarted at once
 * with its key file, port and flags, as an operator would, and rejoins as the
 * standby; a frozen one gets SIGCONT after a while. Before each action both heads
 * are up and exactly one says it is active: it never takes both heads down.
 */
export class HeadChaos {
  readonly heads: ChaosHead[] = []
  /** Both heads' addresses, the primary first, as nodes and clients take them. */
  addresses: string[] = []
  readonly report: HeadChaosReport = { actions: { killHead: 0, freezeHead: 0 }, takeovers: 0, log: [] }
  readonly #options: HeadChaosOptions
  readonly #rng: ReturnType<typeof prng>
  readonly #thaws = new Set<NodeJS.Timeout>()
  /** Every head process started, for the takeover count. */
  readonly #procs: Head[] = []
  #stopRequested = false
  #started = 0
  #onCovered: (() => void) | undefined
  /** Resolves once the active head has been both killed and frozen and the heads have settled after it, or the chaos ended. */
  readonly whenCovered = new Promise<void>((resolve) => {
    this.#onCovered = resolve
  })

  constructor(options: HeadChaosOptions) {
    this.#options = options
    this.#rng = prng(options.seed ^ 0x4ead)
  }

  async setup(): Promise<void> {
    const primaryKey = join(tempDir(), 'head.key')
    const primary = await this.#start({ keyFile: primaryKey, port: 0, args: DASHBOARD })
    const port = (address: string) => Number(/\/tcp\/(\d+)\//.exec(address)?.[1])
    this.heads.push({
      name: 'primary',
      keyFile: primaryKey,
      port: port(primary.address),
      args: DASHBOARD,
      proc: primary,
      frozen: false,
    })
    // The standby has its own identity and a copy of the primary's admin key beside it.
    const standbyKey = join(tempDir(), 'head.key')
    copyFileSync(join(dirname(primaryKey), 'admin.key'), join(dirname(standbyKey), 'admin.key'))
    const args = ['--standby', primary.address, ...DASHBOARD]
    const standby = await this.#start({ keyFile: standbyKey, port: 0, args })
    // Its join line lists both heads, the primary first.
    const joinLine = await standby.waitForLine(/meshpool join /)
    const own = (joinLine.match(/\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+/g) ?? [])[1] as string
    this.heads.push({ name: 'standby', keyFile: standbyKey, port: port(own), args, proc: standby, frozen: false })
    this.addresses = [primary.address, own]
  }

  /** Which heads say they are active, from what each printed last: `takes over` or `steps down`. */
  active(): ChaosHead[] {
    return this.heads.filter((head) => {
      let active = !head.args.includes('--standby')
      for (const line of head.proc.output().split('\n')) {
        if (/takes over/.test(line)) active = true
        else if (/steps down to standby/.test(line)) active = false
      }
      return active
    })
  }

  /** Both heads running, none frozen, exactly one active. */
  settled(): boolean {
    const running = this.heads.every((head) => !head.frozen && head.proc.child.exitCode === null)
    return running && this.active().length === 1
  }

  /**
   * Whether the standby has heard the active head: until then it would not take over (a standby
   * that never heard an active head waits), so taking the active head out then would stop the mesh.
   */
  async standbyReady(): Promise<boolean> {
    const [active] = this.active()
    const standby = this.heads.find((head) => head !== active)
    const url = /dashboard at (http:\S+)/.exec(standby?.proc.output() ?? '')?.[1]
    if (active === undefined || url === undefined) return false
    const state = JSON.parse((await get(new URL('/api/state', url).href)).body)
    // A head's own peer id is on its first line (a standby's join line names its primary first).
    const activePeer = /^meshpool head (\S+)/m.exec(active.proc.output())?.[1]
    return state.heads?.active === false && state.heads.activePeer === activePeer
  }

  /** Acts until durationMs has passed or stop() is called; then thaws any frozen head and waits for the heads to settle. */
  async run(): Promise<HeadChaosReport> {
    this.#started = Date.now()
    const end = this.#started + this.#options.durationMs
    // The kinds alternate (from a seeded first one), so each run has both; the moments and lengths are seeded.
    let kind: HeadAction = this.#rng.next() < 0.5 ? 'killHead' : 'freezeHead'
    try {
      for (let n = 0; !this.#stopRequested; n++) {
        await this.#settle()
        if (this.covered()) this.#onCovered?.()
        await this.#sleep(this.#rng.int(...(n === 0 ? this.#options.firstMs : this.#options.gapMs)))
        if (this.#stopRequested || (Date.now() >= end && this.covered())) break
        const [active] = this.active()
        if (active === undefined || !this.settled() || !(await this.standbyReady())) continue
        if (kind === 'killHead') await this.#kill(active)
        else this.#freeze(active)
        kind = kind === 'killHead' ? 'freezeHead' : 'killHead'
      }
    } finally {
      this.thawAll()
      // The map waits for this before its last job: it must not wait for ever if the chaos failed.
      this.#onCovered?.()
    }
    await this.#settle()
    this.report.takeovers = this.#procs.reduce((n, proc) => n + (proc.output().match(/takes over/g) ?? []).length, 0)
    return this.report
  }

  /** Whether the active head has been both killed and frozen. */
  covered(): boolean {
    return this.report.actions.killHead > 0 && this.report.actions.freezeHead > 0
  }

  stop(): void {
    this.#stopRequested = true
  }

  /** SIGCONT for every head process ever started (a no-op on running or gone ones). Safe to call more than once. */
  thawAll(): void {
    for (const timer of this.#thaws) clearTimeout(timer)
    this.#thaws.clear()
    for (const head of this.heads) head.frozen = false
    for (const proc of this.#procs) proc.child.kill('SIGCONT')
  }

  /** The heads' output, for a failure message. */
  output(): string {
    return this.#procs.map((proc, i) => `--- head process ${i + 1}\n${proc.output()}`).join('\n')
  }

  #settle(): Promise<void> {
    return waitFor(
      async () => this.settled() && (await this.standbyReady()),
      SETTLE_MS,
      'both heads up, one of them active',
      () => `${this.report.log.join('\n')}\n${this.output()}`,
    )
  }

  async #kill(head: ChaosHead): Promise<void> {
    head.proc.child.kill('SIGKILL')
    this.report.actions.killHead++
    this.#log(`SIGKILL the active head (${head.name}); restarting it with its key file and port`)
    await head.proc.exited
    head.proc = await this.#start(head)
    this.#log(`${head.name} restarted`)
  }

  #freeze(head: ChaosHead): void {
    const ms = this.#rng.int(...this.#options.freezeMs)
    head.frozen = true
    head.proc.child.kill('SIGSTOP')
    this.report.actions.freezeHead++
    this.#log(`SIGSTOP the active head (${head.name}) for ${ms} ms`)
    const timer = setTimeout(() => {
      this.#thaws.delete(timer)
      head.frozen = false
      head.proc.child.kill('SIGCONT')
      this.#log(`SIGCONT ${head.name}`)
    }, ms)
    this.#thaws.add(timer)
  }

  async #start(head: Pick<ChaosHead, 'keyFile' | 'port' | 'args'>): Promise<Head> {
    const proc = await startHead({ noWork: true, keyFile: head.keyFile, port: head.port, args: head.args })
    this.#procs.push(proc)
    return proc
  }

  #log(line: string): void {
    this.report.log.push(`${((Date.now() - this.#started) / 1000).toFixed(2).padStart(6)}s ${line}`)
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms))
  }
}

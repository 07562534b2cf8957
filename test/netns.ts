/**
 * Network namespaces for tests that need real links between peers: a head
 * namespace joined to one namespace per other role by a veth pair, each pair
 * on its own /24. Links can be cut and restored on both ends, and `destroy()`
 * kills every process started in the namespaces and deletes them.
 *
 * Names are unique per topology (`mp<4 hex>-<role>`), so parallel runs and
 * leftovers of a crashed run never clash; a crashed run's namespaces are swept
 * by the next topology created on the machine (see the registry below).
 */
import { spawn } from 'node:child_process'
import { randomBytes, randomInt } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BIN, capture, PASSWORD, type Proc, tempDir } from './harness.js'
import { checkNetns, ipOrThrow, killAndDelete, REGISTRY, sweepStale } from './netns-tools.js'

/** The role whose namespace every other role is linked to. */
export const HEAD = 'head'

/** A process in a namespace (send() needs `stdin: true`). */
export type NsProc = Proc

export interface RunOptions {
  env?: NodeJS.ProcessEnv
  /** Give the process a stdin pipe (for `send`); otherwise stdin is /dev/null. */
  stdin?: boolean
}

interface Link {
  /** The veth end in the head's namespace. */
  headIf: string
  /** The veth end in the role's namespace. */
  peerIf: string
  headIp: string
  peerIp: string
}

/**
 * A star of namespaces: `head` in the middle, one veth pair to each other
 * role. Link i (1-based, in the order of the roles) is 10.<n>.<i>.0/24 with
 * the head's side at .1 and the role's side at .2.
 */
export class Topology {
  readonly prefix: string
  /** A temp folder for the test's files (key files); removed by destroy(). */
  readonly dir: string
  readonly #links = new Map<string, Link>()
  readonly #namespaces: string[] = []
  readonly #procs = new Set<NsProc>()
  readonly #registryFile: string
  readonly #onExit = (): void => this.#destroySync()
  #destroyed = false

  private constructor(prefix: string) {
    this.prefix = prefix
    this.dir = mkdtempSync(join(tmpdir(), `meshpool-${prefix}-`))
    this.#registryFile = join(REGISTRY, prefix)
    process.once('exit', this.#onExit)
  }

  /** Creates the namespaces and links; fails with NetnsUnavailableError where the machine can't. */
  static async create(roles: string[]): Promise<Topology> {
    for (const role of roles) {
      if (!/^[a-z0-9]{1,6}$/.test(role) || role === HEAD) {
        throw new Error(`role names are 1 to 6 lowercase letters or digits, not ${HEAD}: ${JSON.stringify(role)}`)
      }
    }
    if (roles.length > 250) throw new Error('at most 250 roles')
    const prefix = `mp${randomBytes(2).toString('hex')}`
    await checkNetns(prefix)
    sweepStale()
    const topology = new Topology(prefix)
    try {
      await topology.#build(roles)
    } catch (err) {
      await topology.destroy()
      throw err
    }
    return topology
  }

  /** The namespace of a role (`head` or one given to create). */
  ns(role: string): string {
    if (role !== HEAD && !this.#links.has(role)) throw new Error(`no role ${role} in this topology`)
    return `${this.prefix}-${role}`
  }

  /** The head's address on a role's link: what that role dials to reach the head. */
  headIp(role: string): string {
    return this.#link(role).headIp
  }

  /** The role's own address on its link. */
  ip(role: string): string {
    return this.#link(role).peerIp
  }

  /**
   * Runs `node <args>` inside a role's namespace (`ip netns exec` execs, so the
   * child's pid is node's), with MESHPOOL_PASSWORD set and output captured.
   */
  run(role: string, args: string[], options: RunOptions = {}): NsProc {
    if (this.#destroyed) throw new Error('this topology is destroyed')
    const child = spawn('ip', ['netns', 'exec', this.ns(role), process.execPath, ...args], {
      env: { ...process.env, MESHPOOL_PASSWORD: PASSWORD, MESHPOOL_STATE_DIR: tempDir(), ...options.env },
      stdio: [options.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    })
    const proc = capture(child)
    this.#procs.add(proc)
    void proc.exited.then(() => this.#procs.delete(proc))
    return proc
  }

  /**
   * Starts a `--no-work` head in the head's namespace on `port`, listening on every
   * interface; `address(role)`: the head's address as that role reaches it, over its link.
   */
  async startHead(port: number): Promise<{ head: NsProc; address: (role: string) => string }> {
    const head = this.run(HEAD, [
      BIN,
      'head',
      '--host',
      '0.0.0.0',
      '--port',
      String(port),
      '--no-work',
      '--key-file',
      join(this.dir, 'head.key'),
    ])
    await head.waitForLine(/^ready$/, 30_000)
    const headId = /^meshpool head (\S+)/m.exec(head.output())?.[1]
    if (headId === undefined) throw new Error(`no peer id in the head's output:\n${head.output()}`)
    return { head, address: (role) => `/ip4/${this.headIp(role)}/tcp/${port}/p2p/${headId}` }
  }

  /** Takes a role's link down on both ends. */
  async cut(role: string): Promise<void> {
    await this.#setLink(role, 'down')
  }

  /** Brings a role's link back up on both ends (addresses and the connected route come back with it). */
  async restore(role: string): Promise<void> {
    await this.#setLink(role, 'up')
  }

  /**
   * Stops every process started here (SIGTERM, SIGKILL after a grace), kills
   * whatever is still inside the namespaces (slot processes of a killed node),
   * and deletes the namespaces, which removes their veths. Safe to call twice.
   */
  async destroy(graceMs = 3000): Promise<void> {
    if (this.#destroyed) return
    this.#destroyed = true
    const procs = [...this.#procs]
    for (const proc of procs) proc.child.kill('SIGTERM')
    await Promise.all(
      procs.map(async (proc) => {
        let timer: NodeJS.Timeout | undefined
        await Promise.race([proc.exited, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))])
        clearTimeout(timer)
        if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL')
        await proc.exited
      }),
    )
    this.#destroySync()
  }

  #destroySync(): void {
    process.removeListener('exit', this.#onExit)
    for (const proc of this.#procs) {
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL')
    }
    killAndDelete(this.#namespaces)
    rmSync(this.dir, { recursive: true, force: true })
    rmSync(this.#registryFile, { force: true })
    this.#destroyed = true
  }

  async #build(roles: string[]): Promise<void> {
    mkdirSync(REGISTRY, { recursive: true })
    const all = [HEAD, ...roles].map((role) => `${this.prefix}-${role}`)
    // Noted before anything exists, so that a run killed half-way is still swept.
    writeFileSync(this.#registryFile, JSON.stringify({ pid: process.pid, namespaces: all, dir: this.dir }))
    const net = randomInt(100, 200)
    roles.forEach((role, i) => {
      this.#links.set(role, {
        headIf: `${this.prefix}-${role}-h`,
        peerIf: `${this.prefix}-${role}-n`,
        headIp: `10.${net}.${i + 1}.1`,
        peerIp: `10.${net}.${i + 1}.2`,
      })
    })
    const headNs = this.ns(HEAD)
    for (const ns of all) {
      await ipOrThrow(['netns', 'add', ns])
      this.#namespaces.push(ns)
      await ipOrThrow(['-n', ns, 'link', 'set', 'lo', 'up'])
    }
    for (const role of roles) {
      const link = this.#link(role)
      const ns = this.ns(role)
      // Created inside the head's namespace with its peer moved straight to the role's: nothing touches the host's.
      await ipOrThrow([
        '-n',
        headNs,
        'link',
        'add',
        link.headIf,
        'type',
        'veth',
        'peer',
        'name',
        link.peerIf,
        'netns',
        ns,
      ])
      await ipOrThrow(['-n', headNs, 'addr', 'add', `${link.headIp}/24`, 'dev', link.headIf])
      await ipOrThrow(['-n', ns, 'addr', 'add', `${link.peerIp}/24`, 'dev', link.peerIf])
      await ipOrThrow(['-n', headNs, 'link', 'set', link.headIf, 'up'])
      await ipOrThrow(['-n', ns, 'link', 'set', link.peerIf, 'up'])
    }
  }

  #link(role: string): Link {
    const link = this.#links.get(role)
    if (link === undefined) throw new Error(`no link for role ${role} in this topology`)
    return link
  }

  async #setLink(role: string, state: 'up' | 'down'): Promise<void> {
    const link = this.#link(role)
    await Promise.all([
      ipOrThrow(['-n', this.ns(HEAD), 'link', 'set', link.headIf, state]),
      ipOrThrow(['-n', this.ns(role), 'link', 'set', link.peerIf, state]),
    ])
  }
}

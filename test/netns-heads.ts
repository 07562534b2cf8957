/**
 * A LAN of network namespaces for the tests of two heads: every role in its
 * own namespace, all on one bridge (in a namespace of its own), so that each
 * reaches every other directly. `cut(a, b)` drops the traffic between two
 * roles only, both ways, with a blackhole route on each side (packets vanish,
 * as on a pulled cable: no reset, no ICMP), while both still reach the rest.
 *
 * It sits beside test/netns.ts (a star around the head, for cutting one
 * node's link) and shares its machine side (netns-tools.ts): the same checks,
 * the same registry, so a crashed run's namespaces are swept the same way.
 */
import { spawn } from 'node:child_process'
import { randomBytes, randomInt } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { capture, PASSWORD, type Proc, tempDir } from './harness.js'
import { checkNetns, ipOrThrow, killAndDelete, NetnsUnavailableError, REGISTRY, sweepStale } from './netns-tools.js'

/** The namespace that holds the bridge. */
const SWITCH = 'sw'
const BRIDGE = 'br0'

export class Lan {
  readonly prefix: string
  /** A temp folder for the test's files (key files); removed by destroy(). */
  readonly dir: string
  readonly #ips = new Map<string, string>()
  readonly #namespaces: string[] = []
  readonly #procs = new Set<Proc>()
  readonly #registryFile: string
  readonly #onExit = (): void => this.#destroySync()
  #destroyed = false

  private constructor(prefix: string) {
    this.prefix = prefix
    this.dir = mkdtempSync(join(tmpdir(), `meshpool-${prefix}-`))
    this.#registryFile = join(REGISTRY, prefix)
    process.once('exit', this.#onExit)
  }

  /** Creates the namespaces and the bridge; fails with NetnsUnavailableError where the machine can't. */
  static async create(roles: string[]): Promise<Lan> {
    for (const role of roles) {
      if (!/^[a-z0-9]{1,6}$/.test(role) || role === SWITCH) {
        throw new Error(`role names are 1 to 6 lowercase letters or digits, not ${SWITCH}: ${JSON.stringify(role)}`)
      }
    }
    if (roles.length > 250) throw new Error('at most 250 roles')
    const prefix = `mp${randomBytes(2).toString('hex')}`
    await checkNetns(prefix)
    sweepStale()
    const lan = new Lan(prefix)
    try {
      await lan.#build(roles)
    } catch (err) {
      await lan.destroy()
      throw err
    }
    return lan
  }

  ns(role: string): string {
    if (!this.#ips.has(role)) throw new Error(`no role ${role} on this LAN`)
    return `${this.prefix}-${role}`
  }

  /** The role's address on the LAN. */
  ip(role: string): string {
    const ip = this.#ips.get(role)
    if (ip === undefined) throw new Error(`no role ${role} on this LAN`)
    return ip
  }

  /** Runs `node <args>` inside a role's namespace, with MESHPOOL_PASSWORD set and output captured (`stdin`: a pipe, for send()). */
  run(
    role: string,
    args: string[],
    { env = {}, stdin = false }: { env?: NodeJS.ProcessEnv; stdin?: boolean } = {},
  ): Proc {
    if (this.#destroyed) throw new Error('this LAN is destroyed')
    const child = spawn('ip', ['netns', 'exec', this.ns(role), process.execPath, ...args], {
      env: { ...process.env, MESHPOOL_PASSWORD: PASSWORD, MESHPOOL_STATE_DIR: tempDir(), ...env },
      stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    })
    const proc = capture(child)
    this.#procs.add(proc)
    void proc.exited.then(() => this.#procs.delete(proc))
    return proc
  }

  /** Drops everything between `a` and `b`, both ways; each still reaches every other role. */
  async cut(a: string, b: string): Promise<void> {
    await Promise.all([this.#route('add', a, b), this.#route('add', b, a)])
  }

  /** Undoes cut(a, b). */
  async heal(a: string, b: string): Promise<void> {
    await Promise.all([this.#route('del', a, b), this.#route('del', b, a)])
  }

  /** Stops every process started here (SIGTERM, SIGKILL after a grace) and deletes the namespaces. Safe to call twice. */
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

  /** A blackhole route in `from`'s namespace for `to`'s address: more specific than the LAN's, so it wins. */
  #route(op: 'add' | 'del', from: string, to: string): Promise<void> {
    return ipOrThrow(['-n', this.ns(from), 'route', op, 'blackhole', `${this.ip(to)}/32`])
  }

  async #build(roles: string[]): Promise<void> {
    mkdirSync(REGISTRY, { recursive: true })
    const switchNs = `${this.prefix}-${SWITCH}`
    const all = [switchNs, ...roles.map((role) => `${this.prefix}-${role}`)]
    // Noted before anything exists, so that a run killed half-way is still swept.
    writeFileSync(this.#registryFile, JSON.stringify({ pid: process.pid, namespaces: all, dir: this.dir }))
    const net = randomInt(100, 200)
    roles.forEach((role, i) => {
      this.#ips.set(role, `10.${net}.0.${i + 1}`)
    })
    for (const ns of all) {
      await ipOrThrow(['netns', 'add', ns])
      this.#namespaces.push(ns)
      await ipOrThrow(['-n', ns, 'link', 'set', 'lo', 'up'])
    }
    await ipOrThrow(['-n', switchNs, 'link', 'add', BRIDGE, 'type', 'bridge']).catch((err: Error) => {
      throw new NetnsUnavailableError(
        `this machine can't create a bridge in a network namespace for the two-heads test (${err.message}): it needs the kernel's bridge module (\`modprobe bridge\` on the host)`,
      )
    })
    await ipOrThrow(['-n', switchNs, 'link', 'set', BRIDGE, 'up'])
    for (const role of roles) {
      const port = `${this.prefix}-${role}-s`
      const inside = `${this.prefix}-${role}-n`
      // Made in the switch's namespace with its peer moved straight to the role's: nothing touches the host's.
      await ipOrThrow([
        '-n',
        switchNs,
        'link',
        'add',
        port,
        'type',
        'veth',
        'peer',
        'name',
        inside,
        'netns',
        this.ns(role),
      ])
      await ipOrThrow(['-n', switchNs, 'link', 'set', port, 'master', BRIDGE])
      await ipOrThrow(['-n', switchNs, 'link', 'set', port, 'up'])
      await ipOrThrow(['-n', this.ns(role), 'addr', 'add', `${this.ip(role)}/24`, 'dev', inside])
      await ipOrThrow(['-n', this.ns(role), 'link', 'set', inside, 'up'])
    }
  }
}

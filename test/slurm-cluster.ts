import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitFor } from './harness.js'
import { makeFakeGpus, mungeUser, quietPort, writeMungeKey, writeSlurmConf } from './slurm-config.js'

/** The Debian packages this cluster needs, as .ci/run installs them. */
const PACKAGES = 'slurmctld slurmd slurm-client munge'
const COMMANDS = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scancel', 'sinfo', 'mknod']
/** The daemons live in /usr/sbin, which a non-login shell's PATH may lack. */
const PATH = `${process.env.PATH}:/usr/sbin:/sbin`
/** How often start() tries anew with other ports, when one was taken meanwhile. */
const ATTEMPTS = 3

/**
 * Why this machine can't run the cluster, or undefined if it can: slurmd must start as
 * root (it runs each job as its user), and the packages must be installed.
 */
export function slurmUnavailable(): string | undefined {
  const uid = process.getuid?.()
  if (uid !== 0) {
    return `a real Slurm cluster needs root (slurmd starts jobs as their users), and this test runs as uid ${uid}: run it as root, as CI does`
  }
  for (const command of COMMANDS) {
    if (spawnSync('sh', ['-c', `command -v ${command}`], { env: { ...process.env, PATH } }).status !== 0) {
      return `no ${command} on PATH: install Debian's ${PACKAGES} (apt-get install -y --no-install-recommends ${PACKAGES}; .ci/run does)`
    }
  }
  return undefined
}

/**
 * A one-machine Slurm cluster of a test's own, started by hand (no systemd) as
 * ../shared/DEPLOY-NOTES.md measured: munged, slurmctld and slurmd, one node with two fake
 * GPUs as gres. Its config, munge key and socket, ports and files are its own (all in
 * `dir`), so it meets no other Slurm or munged on the machine.
 */
export class SlurmCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'meshpool-slurm-'))
  /** The environment that points Slurm's commands at this cluster. */
  readonly env: NodeJS.ProcessEnv = { ...process.env, PATH, SLURM_CONF: join(this.dir, 'slurm.conf') }
  readonly #node = hostname().split('.')[0] as string
  readonly #daemons = new Map<string, ChildProcess>()
  #stopped: Promise<void> | undefined

  /** Starts the daemons, and resolves once the node, with `cpus` CPUs, is idle. */
  async start({ cpus }: { cpus: number }): Promise<void> {
    const why = slurmUnavailable()
    if (why !== undefined) throw new Error(why)
    // munged runs as the munge user and needs to reach its socket folder inside.
    chmodSync(this.dir, 0o755)
    for (const folder of ['state', 'spool']) mkdirSync(join(this.dir, folder))
    makeFakeGpus(this.dir)
    const munge = join(this.dir, 'munge')
    const args = ['--foreground', `--key-file=${writeMungeKey(munge)}`, `--socket=${join(munge, 'munge.socket')}`]
    for (const [flag, file] of [
      ['pid', 'munged.pid'],
      ['seed', 'munged.seed'],
      ['log', 'munged.log'],
    ]) {
      args.push(`--${flag}-file=${join(munge, file as string)}`)
    }
    this.#spawn('munged', args, mungeUser())
    await waitFor(() => this.#alive('munged') && existsSync(join(munge, 'munge.socket')), 10_000, 'munged', this.logs)
    for (let attempt = 1; ; attempt++) {
      const ports = [await quietPort(), await quietPort()] as [number, number]
      if (ports[0] === ports[1]) continue
      writeSlurmConf(this.dir, this.#node, cpus, ports)
      this.#spawn('slurmctld', ['-D', '-i'])
      this.#spawn('slurmd', ['-D', '-N', this.#node])
      try {
        await waitFor(
          () => this.#alive('slurmctld', 'slurmd') && this.#state() === 'idle',
          15_000,
          'an idle node',
          () => {
            return `state: ${this.#state()}\n${this.#slurm('sinfo', ['-R'])}\n${this.logs()}`
          },
        )
        return
      } catch (err) {
        // Most likely a port that something else took meanwhile: slurmctld says so in its log.
        if (attempt === ATTEMPTS) throw err
        for (const name of ['slurmd', 'slurmctld']) await end(this.#daemons.get(name))
      }
    }
  }

  /** Runs a Slurm command (sbatch, squeue, scancel …) on this cluster; throws with its stderr if it fails. */
  run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
    const result = spawnSync(command, args, {
      cwd: this.dir,
      env: { ...this.env, ...env },
      encoding: 'utf8',
      timeout: 20_000,
    })
    if (result.status !== 0) {
      throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr}`)
    }
    return result.stdout
  }

  /** The end of the daemons' logs, for a failure message. */
  logs = (): string => {
    const files = ['munge/munged.log', 'munged.out', 'slurmctld.log', 'slurmd.log']
    return files
      .filter((file) => existsSync(join(this.dir, file)))
      .map((file) => `--- ${file}\n${readFileSync(join(this.dir, file), 'utf8').split('\n').slice(-15).join('\n')}`)
      .join('\n')
  }

  /**
   * Cancels every job, stops the daemons and whatever the jobs left, and removes `dir`;
   * also when start() got only part of the way, or is still under way (it then starts nothing more).
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop()
    return this.#stopped
  }

  async #stop(): Promise<void> {
    try {
      // Jobs first, while slurmctld and slurmd are there to end them.
      if (this.#running('slurmctld') && this.#running('slurmd')) {
        this.#slurm('scancel', ['--partition=test'])
        await waitFor(() => this.#slurm('squeue', ['-h']) === '', 20_000, 'the jobs to end').catch(() => {})
      }
    } finally {
      // munged last: slurmctld and slurmd need it until they are gone.
      for (const name of ['slurmd', 'slurmctld']) await end(this.#daemons.get(name))
      // Whatever the jobs left (slurmstepd, a job's processes) carries this cluster's SLURM_CONF.
      for (const pid of processesWithEnv(`SLURM_CONF=${this.env.SLURM_CONF}`)) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // it ended meanwhile
        }
      }
      await end(this.#daemons.get('munged'))
      rmSync(this.dir, { recursive: true, force: true })
    }
  }

  #spawn(command: string, args: string[], ids: { uid?: number; gid?: number } = {}): void {
    if (this.#stopped !== undefined) throw new Error(`the Slurm cluster is stopping: ${command} not started`)
    const out = openSync(join(this.dir, `${command}.out`), 'w')
    const env = command === 'munged' ? { ...process.env, PATH } : this.env
    const child = spawn(command, args, { cwd: this.dir, env, stdio: ['ignore', out, out], ...ids })
    child.on('error', () => {}) // its exit, and its log, tell what happened
    this.#daemons.set(command, child)
  }

  #running(name: string): boolean {
    const child = this.#daemons.get(name)
    return child !== undefined && child.exitCode === null && child.signalCode === null
  }

  /** Whether these daemons are running; throws, with the logs, for one that has exited. */
  #alive(...names: string[]): boolean {
    for (const name of names) {
      const child = this.#daemons.get(name)
      if (child !== undefined && !this.#running(name)) {
        throw new Error(`${name} exited (${child.exitCode ?? child.signalCode})\n${this.logs()}`)
      }
    }
    return names.every((name) => this.#running(name))
  }

  #state(): string {
    return this.#slurm('sinfo', ['-h', '-n', this.#node, '-o', '%T'])
  }

  /** A Slurm command's output, or '' if it fails: for polling, where a failure means "not yet". */
  #slurm(command: string, args: string[]): string {
    return spawnSync(command, args, { env: this.env, encoding: 'utf8', timeout: 5000 }).stdout?.trim() ?? ''
  }
}

/** SIGTERM, then SIGKILL if it has not exited within 5 s. */
async function end(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

/** The pids of processes whose environment holds this exact entry. */
function processesWithEnv(entry: string): number[] {
  const pids: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    try {
      if (readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').includes(entry)) pids.push(Number(name))
    } catch {
      // it ended meanwhile, or is not ours to read
    }
  }
  return pids
}

import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, waitFor } from './harness.js'

/** The Debian packages this cluster needs, as .ci/run installs them. */
const PACKAGES = 'slurmctld slurmd slurm-client munge'
const COMMANDS = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scancel', 'sinfo', 'mknod']
/** The daemons live in /usr/sbin, which a non-login shell's PATH may lack. */
const PATH = `${process.env.PATH}:/usr/sbin:/sbin`

/** A one-machine Slurm cluster of this test's own: its config, daemons and files all live in `dir`. */
export interface SlurmCluster {
  dir: string
  /** The environment that points Slurm's commands at this cluster (SLURM_CONF). */
  env: NodeJS.ProcessEnv
  /** Runs a Slurm command (sbatch, squeue, scancel …) on this cluster; throws with its stderr if it fails. */
  run(command: string, args: string[], env?: NodeJS.ProcessEnv): string
  /** The daemons' logs, for a failure message. */
  logs(): string
  /** Cancels every job, stops the daemons and anything left of the jobs, and removes `dir`. */
  stop(): Promise<void>
}

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
 * Starts munged, slurmctld and slurmd by hand (no systemd), as ../shared/DEPLOY-NOTES.md
 * measured: one node with `cpus` CPUs and two fake GPUs (clones of /dev/null) as gres.
 * Its own munge key and socket and its own ports, so it meets no other Slurm or munged on the machine.
 */
export async function startSlurmCluster({ cpus }: { cpus: number }): Promise<SlurmCluster> {
  const why = slurmUnavailable()
  if (why !== undefined) throw new Error(why)
  const dir = mkdtempSync(join(tmpdir(), 'meshpool-slurm-'))
  // munged runs as the munge user and needs to reach its socket folder inside.
  chmodSync(dir, 0o755)
  const conf = join(dir, 'slurm.conf')
  const env = { ...process.env, PATH, SLURM_CONF: conf }
  const daemons: ChildProcess[] = []
  const cluster: SlurmCluster = {
    dir,
    env,
    run: (command, args, more = {}) => {
      const result = spawnSync(command, args, { cwd: dir, env: { ...env, ...more }, encoding: 'utf8', timeout: 20_000 })
      if (result.status !== 0) {
        throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr}`)
      }
      return result.stdout
    },
    logs: () => daemonLogs(dir),
    stop: () => stopCluster(cluster, daemons),
  }
  try {
    const munge = startMunged(dir)
    daemons.push(munge)
    await waitFor(() => readdirSync(join(dir, 'munge')).includes('munge.socket'), 10_000, 'munged', cluster.logs)
    const node = hostname().split('.')[0] as string
    writeConfig(dir, node, cpus, await freePort(), await freePort())
    daemons.push(daemon(dir, 'slurmctld', ['-D', '-i'], env))
    daemons.push(daemon(dir, 'slurmd', ['-D', '-N', node], env))
    const state = () => spawnSync('sinfo', ['-h', '-n', node, '-o', '%T'], { env, encoding: 'utf8' }).stdout.trim()
    await waitFor(
      () => state() === 'idle',
      20_000,
      `Slurm node ${node} to be idle`,
      () => {
        const reason = spawnSync('sinfo', ['-R'], { env, encoding: 'utf8' }).stdout
        return `state: ${state()}\n${reason}\n${cluster.logs()}`
      },
    )
    return cluster
  } catch (err) {
    await cluster.stop()
    throw err
  }
}

/** munged in the foreground as the munge user, with a fresh key and a socket of this cluster's own. */
function startMunged(dir: string): ChildProcess {
  const folder = join(dir, 'munge')
  mkdirSync(folder, { mode: 0o755 })
  const uid = Number(spawnSync('id', ['-u', 'munge'], { encoding: 'utf8' }).stdout)
  const gid = Number(spawnSync('id', ['-g', 'munge'], { encoding: 'utf8' }).stdout)
  const key = join(folder, 'munge.key')
  writeFileSync(key, randomBytes(1024), { mode: 0o400 })
  chownSync(folder, uid, gid)
  chownSync(key, uid, gid)
  const args = ['--foreground', `--key-file=${key}`, `--socket=${join(folder, 'munge.socket')}`]
  args.push(`--pid-file=${join(folder, 'munged.pid')}`, `--seed-file=${join(folder, 'munged.seed')}`)
  args.push(`--log-file=${join(folder, 'munged.log')}`)
  return daemon(dir, 'munged', args, { ...process.env, PATH }, { uid, gid })
}

function daemon(
  dir: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ids: { uid?: number; gid?: number } = {},
): ChildProcess {
  const out = openSync(join(dir, `${command}.out`), 'w')
  const child = spawn(command, args, { cwd: dir, env, stdio: ['ignore', out, out], ...ids })
  child.on('error', () => {}) // its exit, and its log, tell what happened
  return child
}

/** slurm.conf and gres.conf as DEPLOY-NOTES.md found working, everything in `dir`. */
function writeConfig(dir: string, node: string, cpus: number, ctldPort: number, slurmdPort: number): void {
  for (const folder of ['state', 'spool', 'dev']) mkdirSync(join(dir, folder))
  for (const gpu of ['nvidia0', 'nvidia1']) {
    const made = spawnSync('mknod', ['-m', '666', join(dir, 'dev', gpu), 'c', '1', '3'], { encoding: 'utf8' })
    if (made.status !== 0) throw new Error(`mknod of a fake GPU failed: ${made.stderr}`)
  }
  writeFileSync(join(dir, 'gres.conf'), `Name=gpu File=${dir}/dev/nvidia[0-1]\n`)
  const lines = [
    'ClusterName=meshpooltest',
    `SlurmctldHost=${node}(127.0.0.1)`,
    `SlurmctldPort=${ctldPort}`,
    `SlurmdPort=${slurmdPort}`,
    'SlurmUser=root',
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `AuthInfo=socket=${dir}/munge/munge.socket`,
    `StateSaveLocation=${dir}/state`,
    `SlurmdSpoolDir=${dir}/spool`,
    `SlurmctldPidFile=${dir}/slurmctld.pid`,
    `SlurmdPidFile=${dir}/slurmd.pid`,
    `SlurmctldLogFile=${dir}/slurmctld.log`,
    `SlurmdLogFile=${dir}/slurmd.log`,
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core',
    'MailProg=/bin/true',
    'ReturnToService=2',
    // A cancelled job's processes get SIGTERM, then SIGKILL this many seconds later.
    'KillWait=5',
    'GresTypes=gpu',
    // The node has the CPUs given here, whatever the machine has: a small partition of a known size.
    'SlurmdParameters=config_overrides',
    `NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} Boards=1 SocketsPerBoard=1 CoresPerSocket=${cpus} ThreadsPerCore=1 RealMemory=1000 Gres=gpu:2 State=UNKNOWN`,
    'PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
  ]
  writeFileSync(join(dir, 'slurm.conf'), `${lines.join('\n')}\n`)
}

function daemonLogs(dir: string): string {
  const files = ['munge/munged.log', 'munged.out', 'slurmctld.log', 'slurmctld.out', 'slurmd.log', 'slurmd.out']
  return files
    .map((file) => {
      try {
        return `--- ${file}\n${readFileSync(join(dir, file), 'utf8').split('\n').slice(-15).join('\n')}`
      } catch {
        return ''
      }
    })
    .join('\n')
}

async function stopCluster(cluster: SlurmCluster, daemons: ChildProcess[]): Promise<void> {
  const { env, dir } = cluster
  try {
    // Jobs first, while slurmctld and slurmd are there to end them.
    spawnSync('scancel', ['--partition=test'], { env, timeout: 10_000 })
    const jobs = () => spawnSync('squeue', ['-h'], { env, encoding: 'utf8', timeout: 10_000 }).stdout?.trim() ?? ''
    await waitFor(() => jobs() === '', 20_000, 'the cancelled jobs to end').catch(() => {})
  } finally {
    // munged last: slurmctld and slurmd need it until they are gone.
    for (const child of daemons.slice(1).reverse()) await end(child)
    // Whatever the jobs left (slurmstepd, a job's processes) carries this cluster's SLURM_CONF.
    for (const pid of processesWithEnv(`SLURM_CONF=${env.SLURM_CONF}`)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // it ended meanwhile
      }
    }
    if (daemons[0] !== undefined) await end(daemons[0])
    rmSync(dir, { recursive: true, force: true })
  }
}

/** SIGTERM, then SIGKILL if it has not exited within 5 s. */
async function end(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
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

import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chownSync, mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'

/** The munge user's uid and gid, which the Debian package creates. */
export function mungeUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, 'munge'], { encoding: 'utf8' }).stdout)
  return { uid: id('-u'), gid: id('-g') }
}

/** A fresh munge key in `folder` (mode 0400), both owned by the munge user, as munged insists. */
export function writeMungeKey(folder: string): string {
  const { uid, gid } = mungeUser()
  mkdirSync(folder, { mode: 0o755 })
  const key = join(folder, 'munge.key')
  writeFileSync(key, randomBytes(1024), { mode: 0o400 })
  chownSync(folder, uid, gid)
  chownSync(key, uid, gid)
  return key
}

/** Two fake GPUs: character devices that are clones of /dev/null, named as NVIDIA's are. */
export function makeFakeGpus(dir: string): void {
  mkdirSync(join(dir, 'dev'))
  for (const gpu of ['nvidia0', 'nvidia1']) {
    const made = spawnSync('mknod', ['-m', '666', join(dir, 'dev', gpu), 'c', '1', '3'], { encoding: 'utf8' })
    if (made.status !== 0) throw new Error(`mknod of a fake GPU failed: ${made.stderr}`)
  }
  writeFileSync(join(dir, 'gres.conf'), `Name=gpu File=${dir}/dev/nvidia[0-1]\n`)
}

/**
 * A port that was free a moment ago, below Linux's ephemeral range (32768 and up), where
 * the many outgoing connections of other tests on this machine don't take it meanwhile.
 */
export async function quietPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer()
      server.once('error', () => resolve(false))
      server.listen(port, '0.0.0.0', () => server.close(() => resolve(true)))
    })
    if (free) return port
  }
}

/** slurm.conf as ../shared/DEPLOY-NOTES.md found working, everything in `dir`. */
export function writeSlurmConf(dir: string, node: string, cpus: number, ports: [number, number]): void {
  const lines = [
    'ClusterName=meshpooltest',
    `SlurmctldHost=${node}(127.0.0.1)`,
    `SlurmctldPort=${ports[0]}`,
    `SlurmdPort=${ports[1]}`,
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

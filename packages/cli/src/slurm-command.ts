import { DEFAULT_HEAD_PORT } from '@meshpool/node/defaults'
import { Command } from 'commander'
import { comment, DEFAULT_MESHPOOL, shellQuote } from './cluster-text.js'
import { integer } from './options.js'
import { standbyLines } from './slurm-standby.js'
import { UsageError } from './usage-error.js'

interface SlurmFlags {
  meshpool: string
  workers: number
  gpusPerWorker: number
  /** Unset: the partition's own default (its DefCpuPerGPU, else one CPU), which fits any partition. */
  cpusPerWorker?: number
  headCpus: number
  partition?: string
  time: string
  port: number
  standby?: boolean
}

/** The head job's CPUs unless told otherwise: a `--no-work` head only coordinates, and one CPU is plenty. */
export const DEFAULT_HEAD_CPUS = 1

/** The most CPUs and GPUs one flag takes: more than one machine has, so a typo like 80000 is caught here. */
const MAX_CPUS = 4096
const MAX_GPUS = 64
/** Slurm's own ceiling on array indexes (MaxArraySize can be at most 4000001). */
const MAX_WORKERS = 4_000_000

/** `meshpool slurm`: an sbatch script whose job runs the head, then submits the nodes as a job array. */
export function slurmCommand(): Command {
  return new Command('slurm')
    .description('print an sbatch script: a head job that submits the nodes as a job array with GPUs per task')
    .option('--workers <n>', 'nodes in the job array', integer('--workers', { min: 1, max: MAX_WORKERS }), 4)
    .option(
      '--gpus-per-worker <n>',
      'GPUs per node (one slot each, on the GPUs Slurm gives the node); 0 for CPU nodes',
      integer('--gpus-per-worker', { max: MAX_GPUS }),
      1,
    )
    .option(
      '--cpus-per-worker <n>',
      "CPUs per node (default: the partition's default; CPU nodes run one slot per CPU they get)",
      integer('--cpus-per-worker', { min: 1, max: MAX_CPUS }),
    )
    .option(
      '--head-cpus <n>',
      "CPUs of the head's job",
      integer('--head-cpus', { min: 1, max: MAX_CPUS }),
      DEFAULT_HEAD_CPUS,
    )
    .option('--partition <name>', 'the Slurm partition for both jobs')
    .option('--time <limit>', 'time limit of both jobs', '08:00:00')
    .option('--port <port>', "the head's port", integer('--port', { max: 65535 }), DEFAULT_HEAD_PORT)
    .option(
      '--standby',
      'also run a standby head, a job of its own on another node, that takes over if the head stops answering (nodes join both)',
    )
    .option(
      '--meshpool <command>',
      "how the cluster's machines start meshpool, e.g. 'node /shared/meshpool/packages/cli/dist/bin.js'",
      DEFAULT_MESHPOOL,
    )
    .action((opts: SlurmFlags) => {
      process.stdout.write(slurmScript(opts))
    })
}

export function slurmScript(opts: SlurmFlags): string {
  const partition = opts.partition === undefined ? undefined : slurmValue('--partition', opts.partition, PARTITION)
  const time = slurmValue('--time', opts.time, TIME)
  const meshpool = commandWords('--meshpool', opts.meshpool)
  const resources = [
    '--ntasks=1',
    ...(opts.gpusPerWorker > 0 ? [`--gpus-per-task=${opts.gpusPerWorker}`] : []),
    ...(opts.cpusPerWorker === undefined ? [] : [`--cpus-per-task=${opts.cpusPerWorker}`]),
  ].join(' ')
  const cpus = opts.cpusPerWorker === undefined ? "the partition's default CPUs" : `${opts.cpusPerWorker} CPU(s)`
  const nodeJob = nodeJobParts(meshpool, opts.gpusPerWorker > 0)
  const standby = opts.standby === true
  const job = { meshpool, port: opts.port, headCpus: opts.headCpus, time, partition }
  return `#!/bin/bash
# A meshpool mesh on Slurm: this job runs the head (${opts.headCpus} CPU(s)); once it is ready it submits
${standby ? `# a standby head (a job of its own, ${opts.headCpus} CPU(s), on another node; once it is ready) and\n` : ''}# ${opts.workers} nodes as a job array (${opts.gpusPerWorker} GPU(s) each, one slot per GPU; ${cpus} each).
# Submit it with the pool password in the environment (sbatch passes it on):
#   MESHPOOL_PASSWORD=… sbatch meshpool.sbatch
# (or put a key file from \`meshpool keygen\` on a shared file system and set MESHPOOL_POOL_KEY_FILE).
# Programs reach the head${standby ? 's' : ''} at the address${standby ? 'es (comma-separated, the primary first)' : ''} in $HOME/.meshpool/slurm-<job id>/address.
# The machines start meshpool as \`${comment(opts.meshpool)}\` (on their PATH, or a checkout on a shared file system).
#SBATCH --job-name=meshpool-head
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=${opts.headCpus}
#SBATCH --time=${time}
${partition === undefined ? '' : `#SBATCH --partition=${partition}\n`}set -euo pipefail
umask 077

state="$HOME/.meshpool/slurm-$SLURM_JOB_ID"
mkdir -p "$HOME/.meshpool" "$state"
${meshpool} head --no-work --port ${opts.port} --key-file "$state/head.key" >"$state/head.log" 2>&1 &
head_pid=$!
until grep -q '^ready$' "$state/head.log"; do
  kill -0 "$head_pid" 2>/dev/null || { cat "$state/head.log"; exit 1; }
  sleep 1
done
address=$(grep -m1 -oE '/ip4/[0-9.]+/tcp/[0-9]+/p2p/[A-Za-z0-9]+' "$state/head.log")
echo "meshpool head at $address"
${standby ? standbyLines(job) : 'heads="$address"\n'}# Written whole, then renamed: a program that polls for the file never reads it half-written.
echo "$heads" | tr ' ' , >"$state/address.tmp"
mv "$state/address.tmp" "$state/address"

sbatch --job-name=meshpool-nodes --array=1-${opts.workers} ${resources} \\
  --time=${shellQuote(time)}${partition === undefined ? '' : ` --partition=${shellQuote(partition)}`} --dependency=after:"$SLURM_JOB_ID" \\
  --wrap ${nodeJob[0]}"$heads"${nodeJob[1]}

wait "$head_pid"
`
}

/**
 * The node job's shell command, shell-quoted in two parts that go either side of the
 * heads' addresses (filled in when the head job runs, separated by a space; grep let
 * through nothing in them but letters, digits and / . :). sbatch runs it with sh.
 */
function nodeJobParts(meshpool: string, gpus: boolean): [string, string] {
  // Each node makes a fresh private state folder of its own (mktemp -d: mode 0700, a name no one can
  // take in advance).
  const state = `state=$(mktemp -d "\${TMPDIR:-/tmp}/meshpool-node.XXXXXXXX")`
  // A GPU node runs a slot on each GPU Slurm gave its task (CUDA_VISIBLE_DEVICES, e.g. 0 or 2,3), not
  // on every GPU of the machine; all of them where Slurm set no list of indexes. A CPU node runs
  // one slot per CPU Slurm gave it.
  const pick = `gpus=\${CUDA_VISIBLE_DEVICES:-all}; case $gpus in *[!0-9,]*) gpus=all ;; esac; `
  const slots = gpus ? ' --gpus "$gpus"' : ` --slots "\${SLURM_CPUS_ON_NODE:-1}"`
  return [
    shellQuote(`${gpus ? pick : ''}${state} && exec ${meshpool} join `),
    shellQuote(`${slots} --state-dir "$state"`),
  ]
}

/** Slurm partition names (a comma-separated list of them). */
const PARTITION = /^[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*$/
/** Slurm time limits: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or unlimited. */
const TIME = /^(\d+(-\d+)?(:\d+){0,2}|UNLIMITED|unlimited|INFINITE|infinite)$/

/**
 * A value that goes into a #SBATCH line, which sbatch reads itself (no shell
 * quoting there, and a newline would start a line of the script): only what
 * Slurm takes for it is accepted.
 */
function slurmValue(flag: string, value: string, pattern: RegExp): string {
  if (!pattern.test(value)) {
    throw new UsageError(
      `${flag} ${JSON.stringify(value)} is not a Slurm ${flag.slice(2)}: give one as sbatch takes it (${flag === '--time' ? 'e.g. 08:00:00 or 2-00:00:00' : 'letters, digits, _ . -, comma-separated'})`,
    )
  }
  return value
}

/** The words of a --meshpool command, each shell-quoted (split on spaces, as the k8s manifests do). */
function commandWords(flag: string, command: string): string {
  const words = command.split(' ').filter(Boolean)
  if (words.length === 0) throw new UsageError(`${flag} is empty: give the command that starts meshpool`)
  return words.map(shellQuote).join(' ')
}

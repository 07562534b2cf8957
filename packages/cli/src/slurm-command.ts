import { DEFAULT_HEAD_PORT } from '@meshpool/node/head'
import { Command } from 'commander'
import { comment, DEFAULT_MESHPOOL, shellQuote } from './cluster-text.js'
import { integer } from './options.js'
import { UsageError } from './usage-error.js'

interface SlurmFlags {
  meshpool: string
  workers: number
  gpusPerWorker: number
  cpusPerWorker: number
  partition?: string
  time: string
  port: number
}

/** `meshpool slurm`: an sbatch script whose job runs the head, then submits the nodes as a job array. */
export function slurmCommand(): Command {
  return new Command('slurm')
    .description('print an sbatch script: a head job that submits the nodes as a job array with GPUs per task')
    .option('--workers <n>', 'nodes in the job array', integer('--workers', { min: 1 }), 4)
    .option('--gpus-per-worker <n>', 'GPUs per node (one slot each); 0 for CPU nodes', integer('--gpus-per-worker'), 1)
    .option('--cpus-per-worker <n>', 'CPUs per node', integer('--cpus-per-worker', { min: 1 }), 8)
    .option('--partition <name>', 'the Slurm partition for both jobs')
    .option('--time <limit>', 'time limit of both jobs', '08:00:00')
    .option('--port <port>', "the head's port", integer('--port', { max: 65535 }), DEFAULT_HEAD_PORT)
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
  const gpus = opts.gpusPerWorker > 0 ? ` --gpus-per-task=${opts.gpusPerWorker}` : ''
  const slots = opts.gpusPerWorker > 0 ? '--gpus all' : `--slots ${opts.cpusPerWorker}`
  // Each node makes a fresh private state folder of its own (mktemp -d: mode 0700, a name no one can
  // take in advance). sbatch runs the --wrap command with sh; only the head's address is filled in
  // when the head job runs, and grep let through nothing in it but letters, digits and / . :
  const nodeJob = [
    `state=$(mktemp -d "\${TMPDIR:-/tmp}/meshpool-node.XXXXXXXX") && exec ${meshpool} join `,
    ` ${slots} --state-dir "$state"`,
  ].map(shellQuote)
  return `#!/bin/bash
# A meshpool mesh on Slurm: this job runs the head; once it is ready it submits
# ${opts.workers} nodes as a job array (${opts.gpusPerWorker} GPU(s) each, one slot per GPU).
# Submit it with the pool password in the environment (sbatch passes it on):
#   MESHPOOL_PASSWORD=… sbatch meshpool.sbatch
# (or put a key file from \`meshpool keygen\` on a shared file system and set MESHPOOL_POOL_KEY_FILE).
# Programs reach the head at the address in $HOME/.meshpool/slurm-<job id>/address.
# The machines start meshpool as \`${comment(opts.meshpool)}\` (on their PATH, or a checkout on a shared file system).
#SBATCH --job-name=meshpool-head
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=2
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
echo "$address" >"$state/address"
echo "meshpool head at $address"

sbatch --job-name=meshpool-nodes --array=1-${opts.workers} --ntasks=1${gpus} --cpus-per-task=${opts.cpusPerWorker} \\
  --time=${shellQuote(time)}${partition === undefined ? '' : ` --partition=${shellQuote(partition)}`} --dependency=after:"$SLURM_JOB_ID" \\
  --wrap ${nodeJob[0]}"$address"${nodeJob[1]}

wait "$head_pid"
`
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

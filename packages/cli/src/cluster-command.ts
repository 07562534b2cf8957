import { randomBytes } from 'node:crypto'
import { DEFAULT_HEAD_PORT } from '@meshpool/node/head'
import { Command } from 'commander'
import { stringify } from 'yaml'
import { integer } from './options.js'
import { UsageError } from './usage-error.js'

/** How the generated scripts start meshpool unless told otherwise: the command on the machines' PATH. */
const DEFAULT_MESHPOOL = 'meshpool'

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

/** A Kubernetes namespace: an RFC 1123 label (it is part of the head's DNS name). */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
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

/** `value` as one word in sh and bash: single-quoted, each ' written as '\''. */
function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`
}

/** Text for a comment line: no newline may end the comment early. */
function comment(text: string): string {
  return JSON.stringify(text).slice(1, -1)
}

interface K8sFlags {
  meshpool: string
  workers: number
  gpusPerWorker: number
  image: string
  namespace: string
  port: number
}

/** `meshpool k8s`: Kubernetes manifests for a head Deployment and Service and the nodes as a StatefulSet. */
export function k8sCommand(): Command {
  return new Command('k8s')
    .description(
      'print Kubernetes manifests: the password and head identity as Secrets, the head, its Service, the nodes',
    )
    .option('--workers <n>', 'node replicas', integer('--workers', { min: 1 }), 4)
    .option(
      '--gpus-per-worker <n>',
      'nvidia.com/gpu per node (one slot each); 0 for CPU nodes',
      integer('--gpus-per-worker'),
      1,
    )
    .option('--image <image>', 'an image in which the --meshpool command runs', 'meshpool:latest')
    .option('--namespace <ns>', 'the namespace for everything', 'default')
    .option('--port <port>', "the head's port", integer('--port', { max: 65535 }), DEFAULT_HEAD_PORT)
    .option('--meshpool <command>', 'how the image starts meshpool', DEFAULT_MESHPOOL)
    .action(async (opts: K8sFlags) => {
      process.stdout.write(await k8sManifests(opts))
    })
}

export async function k8sManifests(opts: K8sFlags): Promise<string> {
  // The head's identity is made here, so the nodes' join address (with its /p2p/ part) is known in advance.
  const { newIdentity } = await import('@meshpool/node')
  const identity = await newIdentity()
  const labels = (role: string) => ({ 'app.kubernetes.io/name': 'meshpool', 'app.kubernetes.io/component': role })
  const meta = (name: string, role: string) => ({ name, namespace: opts.namespace, labels: labels(role) })
  if (!NAMESPACE.test(opts.namespace)) {
    throw new UsageError(
      `--namespace ${JSON.stringify(opts.namespace)} is not a Kubernetes namespace: lower-case letters, digits and -, at most 63`,
    )
  }
  const meshpool = opts.meshpool.split(' ').filter(Boolean)
  const secretEnv = [
    { name: 'MESHPOOL_PASSWORD', valueFrom: { secretKeyRef: { name: 'meshpool-password', key: 'password' } } },
  ]
  const address = `/dns4/meshpool-head.${opts.namespace}.svc.cluster.local/tcp/${opts.port}/p2p/${identity.peerId}`
  const gpuLimits = opts.gpusPerWorker > 0 ? { limits: { 'nvidia.com/gpu': opts.gpusPerWorker } } : {}
  const documents = [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta('meshpool-password', 'secret'),
      type: 'Opaque',
      stringData: { password: randomBytes(24).toString('base64url') },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta('meshpool-head-identity', 'secret'),
      type: 'Opaque',
      data: { 'head.key': Buffer.from(identity.keyFile).toString('base64') },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta('meshpool-head', 'head'),
      spec: {
        replicas: 1,
        selector: { matchLabels: labels('head') },
        template: {
          metadata: { labels: labels('head') },
          spec: {
            containers: [
              {
                name: 'head',
                image: opts.image,
                command: [
                  ...meshpool,
                  'head',
                  '--no-work',
                  '--port',
                  String(opts.port),
                  '--key-file',
                  '/identity/head.key',
                ],
                env: secretEnv,
                ports: [{ name: 'meshpool', containerPort: opts.port }],
                volumeMounts: [{ name: 'identity', mountPath: '/identity', readOnly: true }],
              },
            ],
            volumes: [{ name: 'identity', secret: { secretName: 'meshpool-head-identity', defaultMode: 0o400 } }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta('meshpool-head', 'head'),
      spec: { selector: labels('head'), ports: [{ name: 'meshpool', port: opts.port, targetPort: opts.port }] },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: meta('meshpool-nodes', 'node'),
      spec: {
        serviceName: 'meshpool-nodes',
        replicas: opts.workers,
        selector: { matchLabels: labels('node') },
        template: {
          metadata: { labels: labels('node') },
          spec: {
            containers: [
              {
                name: 'node',
                image: opts.image,
                command: [
                  ...meshpool,
                  'join',
                  address,
                  ...(opts.gpusPerWorker > 0 ? ['--gpus', 'all'] : []),
                  // An emptyDir is writable by everyone (mode 0777), which a node refuses: its own folder inside.
                  '--state-dir',
                  '/state/node',
                ],
                env: secretEnv,
                resources: gpuLimits,
                volumeMounts: [{ name: 'state', mountPath: '/state' }],
              },
            ],
            volumes: [{ name: 'state', emptyDir: {} }],
          },
        },
      },
    },
  ]
  const header = `# meshpool on Kubernetes: kubectl apply -f meshpool.yaml
# Programs in the cluster reach the head at ${address}
# with the password in the meshpool-password Secret. Keep this file private: it holds the secrets.
# The image ${comment(opts.image)} must start meshpool as \`${comment(opts.meshpool)}\` (e.g. node:22 with meshpool installed).
`
  return header + documents.map((doc) => stringify(doc)).join('---\n')
}

import { randomBytes } from 'node:crypto'
import { DEFAULT_HEAD_PORT } from '@meshpool/node/defaults'
import { Command } from 'commander'
import { stringify } from 'yaml'
import { comment, DEFAULT_MESHPOOL } from './cluster-text.js'
import { headAddress, headDeployment, headService, PRIMARY, STANDBY } from './k8s-heads.js'
import { type K8sFlags, labels, meshpoolWords, meta, SECRET_ENV, tcpProbe } from './k8s-parts.js'
import { integer } from './options.js'
import { UsageError } from './usage-error.js'

/** Where each node listens for the other nodes (the gossip mesh); a fixed port, so a probe can check it. */
export const NODE_MESH_PORT = 8900

/** A Kubernetes namespace: an RFC 1123 label (it is part of the head's DNS name). */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

/** `meshpool k8s`: Kubernetes manifests for a head Deployment and Service and the nodes as a StatefulSet. */
export function k8sCommand(): Command {
  return (
    new Command('k8s')
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
      // A container port is 1 to 65535: the head's port is in the Service and the nodes' join address, so it is fixed.
      .option('--port <port>', "the head's port", integer('--port', { min: 1, max: 65535 }), DEFAULT_HEAD_PORT)
      .option('--meshpool <command>', 'how the image starts meshpool', DEFAULT_MESHPOOL)
      .option(
        '--standby',
        "also run a standby head: a second Deployment, never on the head's node, that takes over if the head stops answering",
      )
      .action(async (opts: K8sFlags) => {
        process.stdout.write(await k8sManifests(opts))
      })
  )
}

export async function k8sManifests(opts: K8sFlags): Promise<string> {
  // The heads' identities are made here, so the nodes' join addresses (with their /p2p/ part) are known in advance.
  const { newIdentity } = await import('@meshpool/node')
  const { newAdminKey } = await import('@meshpool/node/admin-key')
  if (!NAMESPACE.test(opts.namespace)) {
    throw new UsageError(
      `--namespace ${JSON.stringify(opts.namespace)} is not a Kubernetes namespace: lower-case letters, digits and -, at most 63`,
    )
  }
  const identity = await newIdentity()
  const standby = opts.standby === true ? await newIdentity() : undefined
  const primary = standby === undefined ? PRIMARY : { ...PRIMARY, other: STANDBY.component }
  const address = headAddress(opts, primary, identity.peerId)
  // The primary first: its peer id names the mesh and salts its key.
  const heads = standby === undefined ? [address] : [address, headAddress(opts, STANDBY, standby.peerId)]
  const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')
  const keys: Record<string, string> = {
    'head.key': base64(identity.keyFile),
    'admin.key': base64(Buffer.from(newAdminKey())),
  }
  if (standby !== undefined) keys['standby.key'] = base64(standby.keyFile)
  const documents = [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta(opts, 'meshpool-password', 'secret'),
      type: 'Opaque',
      stringData: { password: randomBytes(24).toString('base64url') },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta(opts, 'meshpool-head-identity', 'secret'),
      type: 'Opaque',
      // The admin key too: the head can't write it into the mounted Secret, and `meshpool revoke` needs it.
      // A standby has its own key file, and the same admin key, with which the two heads prove they are the mesh's.
      data: keys,
    },
    headDeployment(opts, primary),
    headService(opts, primary),
    ...(standby === undefined
      ? []
      : [headDeployment(opts, { ...STANDBY, other: PRIMARY.component }, address), headService(opts, STANDBY)]),
    {
      // The StatefulSet's governing Service: headless, it gives each node a stable DNS name.
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(opts, 'meshpool-nodes', 'node'),
      spec: {
        clusterIP: 'None',
        selector: labels('node'),
        ports: [{ name: 'mesh', port: NODE_MESH_PORT, targetPort: 'mesh' }],
      },
    },
    nodeStatefulSet(opts, heads),
  ]
  return header(opts, heads) + documents.map((doc) => stringify(doc)).join('---\n')
}

function header(opts: K8sFlags, heads: string[]): string {
  const reach =
    heads.length === 1
      ? `the head at ${heads[0]}`
      : `the heads at ${heads.join(',')}\n# (give clients both, the primary first)`
  return `# meshpool on Kubernetes: kubectl apply -f meshpool.yaml
# Programs in the cluster reach ${reach}
# with the password in the meshpool-password Secret. Keep this file private: it holds the secrets.
# The image ${comment(opts.image)} must start meshpool as \`${comment(opts.meshpool)}\` (the image the repo's Containerfile builds,
# pushed to a registry the cluster pulls from; name it with --image).
`
}

/** The nodes: `--workers` replicas that join the heads' addresses, each with its GPUs. */
function nodeStatefulSet(opts: K8sFlags, heads: string[]) {
  const meshpool = meshpoolWords(opts)
  const gpuLimits = opts.gpusPerWorker > 0 ? { limits: { 'nvidia.com/gpu': opts.gpusPerWorker } } : {}
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(opts, 'meshpool-nodes', 'node'),
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
                ...heads,
                ...(opts.gpusPerWorker > 0 ? ['--gpus', 'all'] : []),
                '--listen',
                `/ip4/0.0.0.0/tcp/${NODE_MESH_PORT}`,
                // An emptyDir is writable by everyone (mode 0777), which a node refuses: its own folder inside.
                '--state-dir',
                '/state/node',
              ],
              env: SECRET_ENV,
              ports: [{ name: 'mesh', containerPort: NODE_MESH_PORT }],
              // A node listens once it has joined the head: up to 5 minutes for that (the head may start
              // later; a node that can't reach it exits and is restarted), then a liveness check.
              startupProbe: tcpProbe('mesh', 5, 60),
              livenessProbe: tcpProbe('mesh', 20, 3),
              resources: gpuLimits,
              volumeMounts: [{ name: 'state', mountPath: '/state' }],
            },
          ],
          volumes: [{ name: 'state', emptyDir: {} }],
        },
      },
    },
  }
}

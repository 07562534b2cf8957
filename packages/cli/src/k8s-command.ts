import { randomBytes } from 'node:crypto'
import { DEFAULT_HEAD_PORT } from '@meshpool/node/defaults'
import { Command } from 'commander'
import { stringify } from 'yaml'
import { comment, DEFAULT_MESHPOOL } from './cluster-text.js'
import { integer } from './options.js'
import { UsageError } from './usage-error.js'

/** Where each node listens for the other nodes (the gossip mesh); a fixed port, so a probe can check it. */
export const NODE_MESH_PORT = 8900

/** A Kubernetes namespace: an RFC 1123 label (it is part of the head's DNS name). */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

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
      .action(async (opts: K8sFlags) => {
        process.stdout.write(await k8sManifests(opts))
      })
  )
}

export async function k8sManifests(opts: K8sFlags): Promise<string> {
  // The head's identity is made here, so the nodes' join address (with its /p2p/ part) is known in advance.
  const { newIdentity } = await import('@meshpool/node')
  const { newAdminKey } = await import('@meshpool/node/admin-key')
  const identity = await newIdentity()
  if (!NAMESPACE.test(opts.namespace)) {
    throw new UsageError(
      `--namespace ${JSON.stringify(opts.namespace)} is not a Kubernetes namespace: lower-case letters, digits and -, at most 63`,
    )
  }
  const address = `/dns4/meshpool-head.${opts.namespace}.svc.cluster.local/tcp/${opts.port}/p2p/${identity.peerId}`
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
      data: {
        'head.key': Buffer.from(identity.keyFile).toString('base64'),
        'admin.key': Buffer.from(newAdminKey()).toString('base64'),
      },
    },
    headDeployment(opts),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(opts, 'meshpool-head', 'head'),
      spec: { selector: labels('head'), ports: [{ name: 'meshpool', port: opts.port, targetPort: 'meshpool' }] },
    },
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
    nodeStatefulSet(opts, address),
  ]
  const header = `# meshpool on Kubernetes: kubectl apply -f meshpool.yaml
# Programs in the cluster reach the head at ${address}
# with the password in the meshpool-password Secret. Keep this file private: it holds the secrets.
# The image ${comment(opts.image)} must start meshpool as \`${comment(opts.meshpool)}\` (the image the repo's Containerfile builds,
# pushed to a registry the cluster pulls from; name it with --image).
`
  return header + documents.map((doc) => stringify(doc)).join('---\n')
}

/** The labels of each manifest, by the role of what it describes. */
function labels(role: string) {
  return { 'app.kubernetes.io/name': 'meshpool', 'app.kubernetes.io/component': role }
}

function meta(opts: K8sFlags, name: string, role: string) {
  return { name, namespace: opts.namespace, labels: labels(role) }
}

/**
 * A TCP check of a named port: the kubelet connects and closes at once, which a meshpool peer
 * lets go quietly, as any dial that gave up before its handshake.
 */
function tcpProbe(port: string, periodSeconds: number, failureThreshold: number) {
  return { tcpSocket: { port }, periodSeconds, failureThreshold }
}

/** The pool's password, from its Secret, in the head's and the nodes' environment. */
const SECRET_ENV = [
  { name: 'MESHPOOL_PASSWORD', valueFrom: { secretKeyRef: { name: 'meshpool-password', key: 'password' } } },
]

/** The head's folder in its pod: its key files (from the Secret) and what it writes beside them. */
const HEAD_STATE = '/state/head'

/** The head: one replica, no slots, its identity from a Secret so the join address stays the same. */
function headDeployment(opts: K8sFlags) {
  const meshpool = opts.meshpool.split(' ').filter(Boolean)
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(opts, 'meshpool-head', 'head'),
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
                `${HEAD_STATE}/head.key`,
              ],
              env: SECRET_ENV,
              ports: [{ name: 'meshpool', containerPort: opts.port }],
              readinessProbe: tcpProbe('meshpool', 5, 3),
              livenessProbe: tcpProbe('meshpool', 20, 3),
              // The head writes beside its key file (the nodes it admitted, revocations): a folder of its own
              // in an emptyDir (whose own folder is writable by everyone), with the Secret's two files in it.
              volumeMounts: [
                { name: 'head-state', mountPath: '/state' },
                ...['head.key', 'admin.key'].map((file) => ({
                  name: 'identity',
                  mountPath: `${HEAD_STATE}/${file}`,
                  subPath: file,
                  readOnly: true,
                })),
              ],
            },
          ],
          volumes: [
            { name: 'identity', secret: { secretName: 'meshpool-head-identity', defaultMode: 0o400 } },
            { name: 'head-state', emptyDir: {} },
          ],
        },
      },
    },
  }
}

/** The nodes: `--workers` replicas that join the head's address, each with its GPUs. */
function nodeStatefulSet(opts: K8sFlags, address: string) {
  const meshpool = opts.meshpool.split(' ').filter(Boolean)
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
                address,
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

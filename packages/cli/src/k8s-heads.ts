import { type K8sFlags, labels, meshpoolWords, meta, SECRET_ENV, tcpProbe } from './k8s-parts.js'

/** The head's folder in its pod: its key files (from the Secret) and what it writes beside them. */
const HEAD_STATE = '/state/head'

/** Where a head's pod and Service get their names and labels, and which key of the identity Secret is its own. */
export interface HeadRole {
  /** The Deployment's and the Service's name, and so the head's DNS name. */
  name: string
  /** Its pods' component label: the other head's pods keep off the node of a pod with it. */
  component: string
  /** Its own key file in the identity Secret; the admin.key beside it is the one both heads share. */
  keyName: string
  /** The role of the other head, when there are two: the two never run on one node. */
  other?: string
}

export const PRIMARY: HeadRole = { name: 'meshpool-head', component: 'head', keyName: 'head.key' }
export const STANDBY: HeadRole = { name: 'meshpool-standby', component: 'standby', keyName: 'standby.key' }

/** A head's address as the pods of the namespace reach it: its Service's DNS name. */
export function headAddress(opts: K8sFlags, role: HeadRole, peerId: string): string {
  return `/dns4/${role.name}.${opts.namespace}.svc.cluster.local/tcp/${opts.port}/p2p/${peerId}`
}

/** A head's Service: the name its address has. */
export function headService(opts: K8sFlags, role: HeadRole) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(opts, role.name, role.component),
    spec: {
      selector: labels(role.component),
      ports: [{ name: 'meshpool', port: opts.port, targetPort: 'meshpool' }],
    },
  }
}

/**
 * A head: one replica, no slots, its identity from the Secret so its address stays the same
 * across restarts. A standby (`standbyOf`, the primary's address) dials the primary; a
 * primary restarted while the standby is active hears so and becomes the standby itself.
 */
export function headDeployment(opts: K8sFlags, role: HeadRole, standbyOf?: string) {
  const command = [...meshpoolWords(opts), 'head', ...(standbyOf === undefined ? [] : ['--standby', standbyOf])]
  command.push('--no-work', '--port', String(opts.port), '--key-file', `${HEAD_STATE}/head.key`)
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(opts, role.name, role.component),
    spec: {
      replicas: 1,
      selector: { matchLabels: labels(role.component) },
      template: {
        metadata: { labels: labels(role.component) },
        spec: {
          ...(role.other === undefined ? {} : { affinity: apartFrom(role.other) }),
          containers: [
            {
              name: 'head',
              image: opts.image,
              command,
              env: SECRET_ENV,
              ports: [{ name: 'meshpool', containerPort: opts.port }],
              readinessProbe: tcpProbe('meshpool', 5, 3),
              livenessProbe: tcpProbe('meshpool', 20, 3),
              // The head writes beside its key file (the nodes it admitted, revocations): a folder of its own
              // in an emptyDir (whose own folder is writable by everyone), with the Secret's two files in it.
              volumeMounts: [
                { name: 'head-state', mountPath: '/state' },
                ...[
                  [role.keyName, 'head.key'],
                  ['admin.key', 'admin.key'],
                ].map(([key, file]) => ({
                  name: 'identity',
                  mountPath: `${HEAD_STATE}/${file}`,
                  subPath: key,
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

/**
 * Never on the node of a pod of the other head: one machine going down must leave a head.
 * Required, not preferred: a cluster with one node leaves the second head pending, which
 * `kubectl rollout status` shows, rather than two heads that fall together.
 */
function apartFrom(component: string) {
  return {
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        { labelSelector: { matchLabels: labels(component) }, topologyKey: 'kubernetes.io/hostname' },
      ],
    },
  }
}

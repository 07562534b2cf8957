/** What the manifests of `meshpool k8s` are made of: its flags, and the parts every object shares. */
export interface K8sFlags {
  meshpool: string
  workers: number
  gpusPerWorker: number
  image: string
  namespace: string
  port: number
  standby?: boolean
}

/** The labels of each manifest, by the role of what it describes. */
export function labels(role: string) {
  return { 'app.kubernetes.io/name': 'meshpool', 'app.kubernetes.io/component': role }
}

export function meta(opts: K8sFlags, name: string, role: string) {
  return { name, namespace: opts.namespace, labels: labels(role) }
}

/**
 * A TCP check of a named port: the kubelet connects and closes at once, which a meshpool peer
 * lets go quietly, as any dial that gave up before its handshake.
 */
export function tcpProbe(port: string, periodSeconds: number, failureThreshold: number) {
  return { tcpSocket: { port }, periodSeconds, failureThreshold }
}

/** The pool's password, from its Secret, in the heads' and the nodes' environment. */
export const SECRET_ENV = [
  { name: 'MESHPOOL_PASSWORD', valueFrom: { secretKeyRef: { name: 'meshpool-password', key: 'password' } } },
]

/** The words of the --meshpool command, as a container's command starts. */
export function meshpoolWords(opts: K8sFlags): string[] {
  return opts.meshpool.split(' ').filter(Boolean)
}

import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { dirname, join, relative } from 'node:path'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { fakeNvidiaSmiDir } from './fixtures/fake-gpus.js'
import { freePort, meshpool, type Out, stopAll, tempDir, WORKER } from './harness.js'
import { type K8sObject, schemaProblems } from './k8s-schema.js'

const fakeGpuDirs: string[] = []
afterEach(async () => {
  await stopAll()
  for (const dir of fakeGpuDirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

async function manifests(args: string[]): Promise<K8sObject[]> {
  const proc = meshpool(['k8s', ...args])
  expect(await proc.exited, proc.output()).toBe(0)
  return parseAllDocuments(proc.output()).map((doc) => {
    expect(doc.errors).toEqual([])
    return doc.toJS()
  })
}

/** The one object of this kind and name. */
function find(docs: K8sObject[], kind: string, name: string): K8sObject {
  const found = docs.filter((doc) => doc.kind === kind && doc.metadata.name === name)
  expect(found, `${kind} ${name}`).toHaveLength(1)
  return found[0] as K8sObject
}

/** The container port a probe or a Service's targetPort names (by name or by number). */
function containerPort(container: K8sObject, port: string | number): number | undefined {
  return container.ports?.find((p: K8sObject) => p.name === port || p.containerPort === port)?.containerPort
}

/** What `--flag value` gives in a container's command. */
function flag(command: string[], name: string): string | undefined {
  const at = command.indexOf(name)
  return at < 0 ? undefined : command[at + 1]
}

const podSpec = (workload: K8sObject): K8sObject => workload.spec.template.spec
const container = (workload: K8sObject): K8sObject => podSpec(workload).containers[0]
const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(selector).every(([key, value]) => labels[key] === value)

const SHAPES = [
  [],
  ['--gpus-per-worker', '0'],
  ['--workers', '3', '--gpus-per-worker', '2', '--namespace', 'ml', '--port', '9000', '--image', 'reg.example/mp:1'],
]

describe('meshpool k8s against the Kubernetes API schemas', () => {
  it('prints only objects the API takes: every field known, of the right type, every name valid', async () => {
    for (const args of SHAPES) {
      const docs = await manifests(args)
      expect(docs.map((doc) => doc.kind)).toEqual([
        'Secret',
        'Secret',
        'Deployment',
        'Service',
        'Service',
        'StatefulSet',
      ])
      for (const doc of docs) {
        expect(schemaProblems(doc), `${doc.kind} ${doc.metadata?.name} (${args.join(' ')})`).toEqual([])
        // What the API server checks beyond the schemas: names are DNS labels, selectors pick the pods.
        expect(doc.metadata.name).toMatch(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/)
        if (doc.spec?.selector?.matchLabels !== undefined) {
          expect(matches(doc.spec.selector.matchLabels, doc.spec.template.metadata.labels)).toBe(true)
        }
      }
    }
    // The check is not vacuous: a typo and a wrong type are both refused.
    const docs = await manifests([])
    const nodes = structuredClone(find(docs, 'StatefulSet', 'meshpool-nodes'))
    nodes.spec.replicaz = 2
    container(nodes).resources.limits['nvidia.com/gpu'] = 'one'
    const problems = schemaProblems(nodes).join('\n')
    expect(problems).toContain('.spec.replicaz: no such field in the API')
    expect(problems).toContain('limits/nvidia.com~1gpu must match format "quantity"')
    // A container port is 1 to 65535: the head's port 0 (a free one) has no place in a manifest.
    const zero = meshpool(['k8s', '--port', '0'])
    expect(await zero.exited).toBe(2)
    expect(zero.output()).toContain('--port takes a whole number from 1 to 65535, got "0"')
  })

  it('asks for the GPUs each node runs on, and names only Secrets and keys that are there', async () => {
    const docs = await manifests(SHAPES[2] as string[])
    const secrets = docs.filter((doc) => doc.kind === 'Secret')
    const head = find(docs, 'Deployment', 'meshpool-head')
    const nodes = find(docs, 'StatefulSet', 'meshpool-nodes')

    // Each node asks for its GPUs and runs a slot on each; the head asks for none.
    expect(nodes.spec.replicas).toBe(3)
    expect(container(nodes).resources).toEqual({ limits: { 'nvidia.com/gpu': 2 } })
    expect(flag(container(nodes).command, '--gpus')).toBe('all')
    expect(JSON.stringify(head)).not.toContain('nvidia.com/gpu')
    const cpuDocs = await manifests(['--gpus-per-worker', '0'])
    expect(JSON.stringify(cpuDocs)).not.toContain('nvidia.com/gpu')
    expect(container(find(cpuDocs, 'StatefulSet', 'meshpool-nodes')).command).not.toContain('--gpus')

    // Every Secret a pod names is there, with the key it reads.
    for (const workload of [head, nodes]) {
      for (const env of container(workload).env ?? []) {
        const ref = env.valueFrom?.secretKeyRef
        if (ref === undefined) continue
        const secret = secrets.find((s) => s.metadata.name === ref.name)
        expect(Object.keys({ ...secret?.data, ...secret?.stringData }), `${env.name} from ${ref.name}`).toContain(
          ref.key,
        )
      }
      for (const mount of container(workload).volumeMounts) {
        const volume = podSpec(workload).volumes.find((v: K8sObject) => v.name === mount.name)
        expect(volume, mount.name).toBeDefined()
        if (volume.secret !== undefined) expect(secrets.map((s) => s.metadata.name)).toContain(volume.secret.secretName)
      }
    }
    expect(container(nodes).env).toEqual(container(head).env)
    // The head's --key-file is the identity Secret's head.key, mounted at its subPath, with its admin.key
    // beside it, in a folder of the emptyDir (the head writes beside its key file).
    const mounts = container(head).volumeMounts
    const keyFile = flag(container(head).command, '--key-file') as string
    const at = (file: string) => mounts.find((m: K8sObject) => m.name === 'identity' && m.subPath === file)?.mountPath
    expect([at('head.key'), at('admin.key')]).toEqual([keyFile, join(dirname(keyFile), 'admin.key')])
    const identityVolume = podSpec(head).volumes.find((v: K8sObject) => v.name === 'identity')
    const identity = find(docs, 'Secret', identityVolume.secret.secretName)
    expect(Object.keys(identity.data).sort()).toEqual(['admin.key', 'head.key'])
    const state = mounts.find((m: K8sObject) => keyFile.startsWith(`${m.mountPath}/`) && m.subPath === undefined)
    expect(podSpec(head).volumes.find((v: K8sObject) => v.name === state?.name)?.emptyDir).toEqual({})
  })

  it("joins the nodes to the head's Service, on the port that reaches the head; probes check the ports they listen on", async () => {
    const docs = await manifests(SHAPES[2] as string[])
    const head = find(docs, 'Deployment', 'meshpool-head')
    const nodes = find(docs, 'StatefulSet', 'meshpool-nodes')
    // The nodes join the head's Service by its DNS name, on the port it serves, which reaches the head's port.
    const service = find(docs, 'Service', 'meshpool-head')
    expect(matches(service.spec.selector, head.spec.template.metadata.labels)).toBe(true)
    expect(matches(service.spec.selector, nodes.spec.template.metadata.labels)).toBe(false)
    const [port] = service.spec.ports
    expect(port.port).toBe(9000)
    expect(containerPort(container(head), port.targetPort)).toBe(9000)
    expect(flag(container(head).command, '--port')).toBe('9000')
    const join = container(nodes).command[container(nodes).command.indexOf('join') + 1]
    expect(join).toMatch(
      new RegExp(`^/dns4/meshpool-head\\.ml\\.svc\\.cluster\\.local/tcp/${port.port}/p2p/12D3KooW\\w+$`),
    )

    // The nodes' headless Service is the one their StatefulSet names.
    const headless = find(docs, 'Service', nodes.spec.serviceName)
    expect(headless.spec.clusterIP).toBe('None')
    expect(matches(headless.spec.selector, nodes.spec.template.metadata.labels)).toBe(true)

    // The probes check the ports the head and the nodes listen on.
    for (const probe of ['readinessProbe', 'livenessProbe']) {
      expect(containerPort(container(head), container(head)[probe].tcpSocket.port), probe).toBe(9000)
    }
    const meshPort = containerPort(container(nodes), 'mesh')
    expect(flag(container(nodes).command, '--listen')).toBe(`/ip4/0.0.0.0/tcp/${meshPort}`)
    for (const probe of ['startupProbe', 'livenessProbe']) {
      expect(containerPort(container(nodes), container(nodes)[probe].tcpSocket.port), probe).toBe(meshPort)
    }
    expect(containerPort(container(nodes), headless.spec.ports[0].targetPort)).toBe(meshPort)
  })
})

/** Files as the kubelet mounts a Secret: each key a link into a hidden, dated folder, mode 0400. */
/**
 * The head's emptyDir as the kubelet mounts it (a folder anyone may write), with each of the Secret's
 * files (mode 0400) at its subPath mount inside it. `root` stands for the emptyDir's `mountPath`.
 */
function headVolumes(secret: K8sObject, mounts: K8sObject[]): { root: string; mountPath: string } {
  const emptyDir = mounts.find((m) => m.subPath === undefined) as K8sObject
  const root = tempDir()
  chmodSync(root, 0o777)
  for (const mount of mounts.filter((m) => m.subPath !== undefined)) {
    const file = join(root, relative(emptyDir.mountPath, mount.mountPath))
    mkdirSync(dirname(file), { recursive: true })
    const base64 = (secret.data as Record<string, string>)[mount.subPath]
    if (base64 === undefined) throw new Error(`the Secret has no ${mount.subPath}`)
    writeFileSync(file, Buffer.from(base64, 'base64'), { mode: 0o400 })
  }
  return { root, mountPath: emptyDir.mountPath }
}

/** Resolves when something accepts a TCP connection on 127.0.0.1:port, as a kubelet's tcpSocket probe asks. */
function probe(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.end()
      resolve()
    })
    socket.once('error', reject)
  })
}

describe('meshpool k8s containers, run as their pods would', () => {
  it("starts the head from its Secret with the join address's peer id; a node joins; both pass their probes; a client maps", async () => {
    const port = await freePort()
    const docs = await manifests(['--workers', '1', '--gpus-per-worker', '2', '--port', String(port)])
    const password = find(docs, 'Secret', 'meshpool-password').stringData.password
    const head = container(find(docs, 'Deployment', 'meshpool-head'))
    const node = container(find(docs, 'StatefulSet', 'meshpool-nodes'))
    expect(head.command[0]).toBe('meshpool')
    expect(node.command[0]).toBe('meshpool')

    // The head's volumes as the kubelet mounts them (the Secret's files in the emptyDir); the password from its
    // Secret, as env says.
    const { root, mountPath } = headVolumes(find(docs, 'Secret', 'meshpool-head-identity'), head.volumeMounts)
    const headArgs = head.command.slice(1).map((arg: string) => arg.replace(mountPath, root))
    const env = { MESHPOOL_PASSWORD: password }
    const headProc = meshpool(headArgs, env)
    await headProc.waitForLine(/^ready$/)
    const join = node.command[node.command.indexOf('join') + 1] as string
    expect(headProc.output()).toContain(`meshpool head ${join.split('/p2p/')[1]}`)

    // The node, with the Service's name resolving to this machine, its emptyDir a folder anyone may write
    // (as an emptyDir is), and the two GPUs its limit asks for.
    const emptyDir = tempDir()
    chmodSync(emptyDir, 0o777)
    const meshPort = await freePort()
    const nodeArgs = node.command.slice(1).map((arg: string) =>
      arg
        .replace(/^\/dns4\/[^/]+\//, '/ip4/127.0.0.1/')
        .replace(/^\/ip4\/0\.0\.0\.0\/tcp\/\d+$/, `/ip4/127.0.0.1/tcp/${meshPort}`)
        .replace(/^\/state\//, `${emptyDir}/`),
    )
    const gpus = await fakeNvidiaSmiDir()
    fakeGpuDirs.push(gpus)
    const nodeProc = meshpool(nodeArgs, { ...env, PATH: `${gpus}:${process.env.PATH}`, FAKE_NVIDIA_SMI_COUNT: '2' })
    await nodeProc.waitForLine(/^ready$/)
    expect(nodeProc.output()).toContain('with 2 slots (GPU 0')
    await probe(port)
    await probe(meshPort)

    await using pool = await createPool({
      worker: WORKER,
      head: join.replace(/^\/dns4\/[^/]+\//, '/ip4/127.0.0.1/'),
      password,
    })
    const results = (await pool.map(Array.from({ length: 20 }, (_, x) => ({ x, delayMs: 20 })))) as Out[]
    expect(results.map((r) => r.y)).toEqual(Array.from({ length: 20 }, (_, x) => x * 2))
    expect(new Set(results.map((r) => r.slot)).size).toBe(2)
    // The probes' connections left no mark: no warning or error in either one's output.
    expect(headProc.output() + nodeProc.output()).not.toMatch(/error|warn/i)
  })
})

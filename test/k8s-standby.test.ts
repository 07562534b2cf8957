import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { freePort, meshpool, type Out, stopAll, tempDir, WORKER } from './harness.js'
import { type K8sObject, schemaProblems } from './k8s-schema.js'

afterEach(stopAll)

async function manifests(args: string[]): Promise<K8sObject[]> {
  const proc = meshpool(['k8s', '--standby', ...args])
  expect(await proc.exited, proc.output()).toBe(0)
  return parseAllDocuments(proc.output()).map((doc) => {
    expect(doc.errors).toEqual([])
    return doc.toJS()
  })
}

function find(docs: K8sObject[], kind: string, name: string): K8sObject {
  const found = docs.filter((doc) => doc.kind === kind && doc.metadata.name === name)
  expect(found, `${kind} ${name}`).toHaveLength(1)
  return found[0] as K8sObject
}

const podSpec = (workload: K8sObject): K8sObject => workload.spec.template.spec
const container = (workload: K8sObject): K8sObject => podSpec(workload).containers[0]
const podLabels = (workload: K8sObject): Record<string, string> => workload.spec.template.metadata.labels
const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(selector).every(([key, value]) => labels[key] === value)
const flag = (command: string[], name: string): string | undefined => command[command.indexOf(name) + 1]
/** The heads a node joins: the words after `join` that are addresses. */
const joined = (command: string[]): string[] =>
  command.slice(command.indexOf('join') + 1).filter((word) => word.startsWith('/dns4/'))
/** Which key of the identity Secret a head's pod mounts as this file of its folder. */
const keyAt = (workload: K8sObject, file: string): string | undefined =>
  container(workload).volumeMounts.find((m: K8sObject) => m.mountPath === file)?.subPath

describe('meshpool k8s --standby against the Kubernetes API schemas', () => {
  it('adds a standby Deployment, never on the head’s node, with its own key and Service and the shared admin key; nodes join both', async () => {
    for (const args of [[], ['--namespace', 'ml', '--port', '9000', '--gpus-per-worker', '2', '--workers', '3']]) {
      const docs = await manifests(args)
      expect(docs.map((doc) => `${doc.kind} ${doc.metadata.name}`)).toEqual([
        'Secret meshpool-password',
        'Secret meshpool-head-identity',
        'Deployment meshpool-head',
        'Service meshpool-head',
        'Deployment meshpool-standby',
        'Service meshpool-standby',
        'Service meshpool-nodes',
        'StatefulSet meshpool-nodes',
      ])
      for (const doc of docs) expect(schemaProblems(doc), `${doc.kind} ${doc.metadata.name}`).toEqual([])
      const head = find(docs, 'Deployment', 'meshpool-head')
      const standby = find(docs, 'Deployment', 'meshpool-standby')
      const nodes = find(docs, 'StatefulSet', 'meshpool-nodes')

      // Each head's pods keep off the node of the other's: one machine going down leaves a head.
      for (const [self, other] of [
        [head, standby],
        [standby, head],
      ] as const) {
        const [term, ...more] = podSpec(self).affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution
        expect(more).toEqual([])
        expect(term.topologyKey).toBe('kubernetes.io/hostname')
        expect(matches(term.labelSelector.matchLabels, podLabels(other))).toBe(true)
        expect(matches(term.labelSelector.matchLabels, podLabels(self))).toBe(false)
      }
      // Each head has a Service of its own, which picks its pods only.
      const ns = args.length === 0 ? 'default' : 'ml'
      const port = args.length === 0 ? 8899 : 9000
      for (const [name, self, other] of [
        ['meshpool-head', head, standby],
        ['meshpool-standby', standby, head],
      ] as const) {
        const service = find(docs, 'Service', name)
        expect(matches(service.spec.selector, podLabels(self))).toBe(true)
        expect(matches(service.spec.selector, podLabels(other))).toBe(false)
        expect(service.spec.ports[0].port).toBe(port)
      }
      // The nodes join both Services' addresses, the primary first; the standby dials the primary's.
      const [primaryAddress, standbyAddress] = joined(container(nodes).command)
      expect(joined(container(nodes).command)).toHaveLength(2)
      const address = (name: string) =>
        new RegExp(`^/dns4/${name}\\.${ns}\\.svc\\.cluster\\.local/tcp/${port}/p2p/12D3KooW\\w+$`)
      expect(primaryAddress).toMatch(address('meshpool-head'))
      expect(standbyAddress).toMatch(address('meshpool-standby'))
      expect(flag(container(standby).command, '--standby')).toBe(primaryAddress)
      expect(container(head).command).not.toContain('--standby')

      // One identity Secret: a key file for each head, and the one admin key both mount beside theirs.
      const identity = find(docs, 'Secret', 'meshpool-head-identity')
      expect(Object.keys(identity.data).sort()).toEqual(['admin.key', 'head.key', 'standby.key'])
      expect(identity.data['head.key']).not.toBe(identity.data['standby.key'])
      for (const [workload, key] of [
        [head, 'head.key'],
        [standby, 'standby.key'],
      ] as const) {
        const keyFile = flag(container(workload).command, '--key-file') as string
        expect(keyAt(workload, keyFile)).toBe(key)
        expect(keyAt(workload, join(keyFile, '..', 'admin.key'))).toBe('admin.key')
        expect(podSpec(workload).volumes.find((v: K8sObject) => v.name === 'identity').secret.secretName).toBe(
          'meshpool-head-identity',
        )
      }
    }
  })
})

/** A head's folder as its pod has it: the Secret's two files it mounts, mode 0400, in a folder anyone may write. */
function headFolder(identity: K8sObject, workload: K8sObject): { root: string; args: string[] } {
  const root = tempDir()
  chmodSync(root, 0o777)
  mkdirSync(join(root, 'head'))
  for (const mount of container(workload).volumeMounts.filter((m: K8sObject) => m.subPath !== undefined)) {
    const file = join(root, mount.mountPath.replace(/^\/state\//, ''))
    writeFileSync(file, Buffer.from(identity.data[mount.subPath], 'base64'), { mode: 0o400 })
  }
  return {
    root,
    args: container(workload)
      .command.slice(1)
      .map((arg: string) => arg.replace(/^\/state\//, `${root}/`)),
  }
}

/** An address of the manifests as this machine reaches it: the Service's name is 127.0.0.1, on the port its pod has here. */
const local = (address: string, port: number) =>
  address.replace(/^\/dns4\/[^/]+\/tcp\/\d+\//, `/ip4/127.0.0.1/tcp/${port}/`)

describe('meshpool k8s --standby containers, run as their pods would', () => {
  it('the standby starts from the shared Secret and takes over when the head is killed mid-map: every result once', async () => {
    const docs = await manifests(['--workers', '1', '--gpus-per-worker', '0'])
    const password = find(docs, 'Secret', 'meshpool-password').stringData.password
    const identity = find(docs, 'Secret', 'meshpool-head-identity')
    const nodes = container(find(docs, 'StatefulSet', 'meshpool-nodes'))
    const [primaryAddress, standbyAddress] = joined(nodes.command) as [string, string]
    // The two pods run on two machines with one port; here they share one, so each gets a port of its own.
    const ports = [await freePort(), await freePort()] as const
    const env = { MESHPOOL_PASSWORD: password }
    const start = (workload: K8sObject, port: number) =>
      meshpool(
        headFolder(identity, workload).args.map((arg, at, args) =>
          args[at - 1] === '--port' ? String(port) : arg.startsWith('/dns4/') ? local(arg, ports[0]) : arg,
        ),
        env,
      )
    const head = start(find(docs, 'Deployment', 'meshpool-head'), ports[0])
    await head.waitForLine(/^ready$/)
    const standby = start(find(docs, 'Deployment', 'meshpool-standby'), ports[1])
    await standby.waitForLine(/^ready$/)
    expect(standby.output()).toContain(`meshpool head ${standbyAddress.split('/p2p/')[1]}`)
    expect(standby.output()).toMatch(/^standby of /m)

    const heads = [local(primaryAddress, ports[0]), local(standbyAddress, ports[1])]
    const stateDir = tempDir()
    chmodSync(stateDir, 0o777)
    const nodeArgs = nodes.command.slice(1).map((arg: string) => {
      const at = joined(nodes.command).indexOf(arg)
      if (at >= 0) return heads[at] as string
      return arg.replace(/^\/ip4\/0\.0\.0\.0\/tcp\/\d+$/, '/ip4/127.0.0.1/tcp/0').replace(/^\/state\//, `${stateDir}/`)
    })
    const node = meshpool([...nodeArgs, '--slots', '2'], env)
    await node.waitForLine(/^ready$/)

    await using pool = await createPool({ worker: WORKER, head: heads, password, output: 'ignore' })
    const results: Out[] = []
    for await (const out of pool.imapUnordered(Array.from({ length: 200 }, (_, x) => ({ x, delayMs: 10 })))) {
      results.push(out as Out)
      if (results.length === 50) head.child.kill('SIGKILL')
    }
    expect(results.map((r) => r.x).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, x) => x))
    expect(standby.output()).toMatch(/takes over/)
  })
})

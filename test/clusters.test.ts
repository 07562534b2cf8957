import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { meshpool, stopAll, tempDir } from './harness.js'

afterEach(stopAll)

async function print(args: string[]): Promise<string> {
  const proc = meshpool(args)
  expect(await proc.exited, proc.output()).toBe(0)
  return proc.output()
}

describe('meshpool slurm', () => {
  it('writes an sbatch script that bash parses: a head job that submits a node array with GPUs per task', async () => {
    const script = await print([
      'slurm',
      '--workers',
      '6',
      '--gpus-per-worker',
      '2',
      '--partition',
      'gpu',
      '--time',
      '02:00:00',
    ])
    const file = join(tempDir(), 'meshpool.sbatch')
    writeFileSync(file, script)
    const syntax = spawnSync('bash', ['-n', file], { encoding: 'utf8' })
    expect(syntax.status, syntax.stderr).toBe(0)
    expect(script).toMatch(/^#!\/bin\/bash/)
    expect(script).toMatch(/^#SBATCH --job-name=meshpool-head$/m)
    expect(script).toMatch(/^#SBATCH --partition=gpu$/m)
    expect(script).toMatch(/^#SBATCH --time=02:00:00$/m)
    expect(script).toMatch(/^meshpool head --no-work --port 8899/m)
    expect(script).toMatch(/sbatch --job-name=meshpool-nodes --array=1-6 --ntasks=1 --gpus-per-task=2/)
    expect(script).toMatch(/--wrap "meshpool join \$address --gpus all --state-dir/)
    const shared = await print(['slurm', '--meshpool', 'node /shared/meshpool/bin.js'])
    expect(shared).toMatch(/^node \/shared\/meshpool\/bin\.js head --no-work/m)
    expect(shared).toMatch(/--wrap "node \/shared\/meshpool\/bin\.js join \$address --gpus all/)
  })
})

describe('meshpool k8s', () => {
  it('writes manifests that parse: Secrets, the head Deployment and Service, nodes with nvidia.com/gpu limits', async () => {
    const text = await print([
      'k8s',
      '--workers',
      '3',
      '--gpus-per-worker',
      '1',
      '--namespace',
      'ml',
      '--image',
      'acme/meshpool:1',
    ])
    const docs = parseAllDocuments(text).map((doc) => {
      expect(doc.errors).toEqual([])
      return doc.toJS()
    })
    const byKind = (kind: string) => docs.filter((d) => d.kind === kind)
    expect(docs.map((d) => d.kind)).toEqual(['Secret', 'Secret', 'Deployment', 'Service', 'StatefulSet'])
    for (const doc of docs) expect(doc.metadata.namespace).toBe('ml')

    const [password, identity] = byKind('Secret')
    expect(password.stringData.password.length).toBeGreaterThanOrEqual(24)
    expect(Buffer.from(identity.data['head.key'], 'base64').byteLength).toBeGreaterThan(60)

    const head = byKind('Deployment')[0].spec.template.spec.containers[0]
    expect(head.image).toBe('acme/meshpool:1')
    expect(head.command[0]).toBe('meshpool')
    expect(head.command).toEqual(expect.arrayContaining(['head', '--no-work', '--key-file', '/identity/head.key']))
    expect(head.env[0].valueFrom.secretKeyRef).toEqual({ name: 'meshpool-password', key: 'password' })
    const service = byKind('Service')[0]
    expect(service.metadata.name).toBe('meshpool-head')
    expect(service.spec.ports[0].port).toBe(8899)

    const nodes = byKind('StatefulSet')[0]
    expect(nodes.spec.replicas).toBe(3)
    const node = nodes.spec.template.spec.containers[0]
    expect(node.resources.limits['nvidia.com/gpu']).toBe(1)
    expect(node.env[0].valueFrom.secretKeyRef.name).toBe('meshpool-password')
    // The nodes join the head's Service by name, with the identity made for it.
    const join = node.command[node.command.indexOf('join') + 1]
    expect(join).toMatch(/^\/dns4\/meshpool-head\.ml\.svc\.cluster\.local\/tcp\/8899\/p2p\/12D3KooW\w+$/)
    expect(text).toContain(join)
  })
})

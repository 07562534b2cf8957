import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
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
    expect(script).toMatch(/^'meshpool' head --no-work --port 8899/m)
    expect(script).toMatch(/sbatch --job-name=meshpool-nodes --array=1-6 --ntasks=1 --gpus-per-task=2/)
    expect(script).toMatch(/--wrap .*exec '\\''meshpool'\\'' join '"\$heads"' --gpus "\$gpus" --state-dir/)
    const shared = await print(['slurm', '--meshpool', 'node /shared/meshpool/bin.js'])
    expect(shared).toMatch(/^'node' '\/shared\/meshpool\/bin\.js' head --no-work/m)
  })

  it("asks for what a small partition has by default: one CPU for the head, the partition's default for each node", async () => {
    const script = await print(['slurm', '--workers', '2'])
    expect(script).toMatch(/^#SBATCH --cpus-per-task=1$/m)
    const nodes = script.split('\n').find((line) => line.startsWith('sbatch --job-name=meshpool-nodes'))
    expect(nodes).toBe('sbatch --job-name=meshpool-nodes --array=1-2 --ntasks=1 --gpus-per-task=1 \\')
    const sized = await print(['slurm', '--head-cpus', '2', '--cpus-per-worker', '16', '--gpus-per-worker', '0'])
    expect(sized).toMatch(/^#SBATCH --cpus-per-task=2$/m)
    expect(sized).toMatch(/^sbatch --job-name=meshpool-nodes --array=1-4 --ntasks=1 --cpus-per-task=16 \\$/m)
    // A CPU node runs one slot per CPU Slurm gave it, whatever the partition's default was.
    expect(sized).toContain(`--slots "\${SLURM_CPUS_ON_NODE:-1}"`)
    expect(sized).not.toContain('--gpus')
  })

  it('refuses a bad count with the flag, the range and the value, before writing any script', async () => {
    const bad: Array<[string, string, string]> = [
      ['--head-cpus', '0', 'from 1 to 4096'],
      ['--head-cpus', 'two', 'from 1 to 4096'],
      ['--cpus-per-worker', '0', 'from 1 to 4096'],
      ['--cpus-per-worker', '1.5', 'from 1 to 4096'],
      ['--gpus-per-worker', '-1', 'from 0 to 64'],
      ['--workers', '0', 'from 1 to 4000000'],
      ['--port', '70000', 'from 0 to 65535'],
    ]
    for (const [flag, value, range] of bad) {
      const proc = meshpool(['slurm', flag, value])
      expect(await proc.exited, proc.output()).toBe(2)
      expect(proc.output()).toContain(`${flag} takes a whole number ${range}, got ${JSON.stringify(value)}`)
      expect(proc.output()).not.toContain('#!/bin/bash')
    }
  })
})

/** A value for every flag that takes text, made of what a shell would act on. */
const HOSTILE = `'; touch MARKER #|$(touch MARKER)|\`touch MARKER\`|"q" \\" \\|a\nb`

/**
 * A fake command on PATH that appends its argv (as JSON) to `log`; as `meshpool head`
 * it also prints a head's address and `ready`, as the real one does.
 */
function fakeCommand(dir: string, name: string, log: string): void {
  const file = join(dir, name)
  writeFileSync(
    file,
    `#!${process.execPath}
const { appendFileSync } = require('node:fs')
appendFileSync(${JSON.stringify(log)}, JSON.stringify(process.argv.slice(2)) + '\\n')
if (process.argv.includes('head')) console.log('  meshpool join /ip4/10.1.2.3/tcp/8899/p2p/12D3KooWFake\\nready')
`,
  )
  chmodSync(file, 0o755)
}

function logged(log: string): string[][] {
  return existsSync(log)
    ? readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line))
    : []
}

/**
 * Runs the script `meshpool slurm --workers 2 --meshpool <words>` prints as the head job, with
 * a fake sbatch and meshpool on PATH that log their arguments; returns the node job it submitted.
 */
async function headJobThroughFakes(words: string[]) {
  const dir = tempDir()
  const bin = join(dir, 'bin')
  mkdirSync(bin)
  const script = await print(['slurm', '--workers', '2', '--meshpool', words.join(' ')])
  const file = join(dir, 'meshpool.sbatch')
  writeFileSync(file, script)
  expect(spawnSync('bash', ['-n', file], { encoding: 'utf8' }).status).toBe(0)

  const meshpoolLog = join(dir, 'meshpool.log')
  const sbatchLog = join(dir, 'sbatch.log')
  fakeCommand(bin, words[0] as string, meshpoolLog)
  fakeCommand(bin, 'sbatch', sbatchLog)
  // tr writes the address file: this one notes whether a reader could already see that file then.
  const trSaw = join(dir, 'tr-saw')
  const tr = join(bin, 'tr')
  const address = join(dir, '.meshpool/slurm-4242/address')
  writeFileSync(tr, `#!/bin/sh\nif [ -e '${address}' ]; then echo yes >'${trSaw}'; fi\nexec /usr/bin/tr "$@"\n`)
  chmodSync(tr, 0o755)
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}`, HOME: dir, TMPDIR: dir }
  env.SLURM_JOB_ID = '4242'
  delete env.CUDA_VISIBLE_DEVICES
  const head = spawnSync('bash', [file], { encoding: 'utf8', env, timeout: 20_000 })
  expect(head.status, head.stdout + head.stderr).toBe(0)
  // sbatch got the node job as one --wrap argument.
  const sbatch = logged(sbatchLog)[0] ?? []
  expect(sbatch).toContain('--array=1-2')
  const wrap = sbatch[sbatch.indexOf('--wrap') + 1] as string
  /** Runs the node job as sbatch would, with sh; returns the arguments meshpool got. */
  const runNodeJob = (more: NodeJS.ProcessEnv = {}): string[] => {
    const node = spawnSync('sh', ['-c', wrap], { encoding: 'utf8', env: { ...env, ...more }, timeout: 20_000 })
    expect(node.status, node.stdout + node.stderr).toBe(0)
    return logged(meshpoolLog).at(-1) ?? []
  }
  return { dir, headArgs: logged(meshpoolLog)[0], runNodeJob, addressSeenEarly: existsSync(trSaw) }
}

describe('meshpool slurm with hostile values', () => {
  it('quotes every value: run through a fake sbatch and meshpool, each arrives as the single argument it was', async () => {
    const marker = join(tempDir(), 'pwned')
    // The first word is the command; every other word of --meshpool must arrive as it is.
    const words = ['fake-meshpool', "';", 'touch', marker, '#', `$(touch\${IFS}${marker})`]
    words.push(`\`touch\${IFS}${marker}\``, '"q"', '\\"', '\\', "it's", 'a\nb', '$HOME')
    const { dir, headArgs, runNodeJob, addressSeenEarly } = await headJobThroughFakes(words)
    expect(headArgs).toEqual([
      ...words.slice(1),
      'head',
      '--no-work',
      '--port',
      '8899',
      '--key-file',
      join(dir, '.meshpool/slurm-4242/head.key'),
    ])
    expect(readFileSync(join(dir, '.meshpool/slurm-4242/address'), 'utf8')).toBe(
      '/ip4/10.1.2.3/tcp/8899/p2p/12D3KooWFake\n',
    )
    // The address file appears whole: a client that polls for it never reads it empty.
    expect(addressSeenEarly).toBe(false)

    const joined = runNodeJob()
    expect(joined.slice(0, -1)).toEqual([
      ...words.slice(1),
      'join',
      '/ip4/10.1.2.3/tcp/8899/p2p/12D3KooWFake',
      '--gpus',
      'all',
      '--state-dir',
    ])
    // Its state folder is fresh, made by mktemp: private, with a name no one could take in advance.
    const stateDir = joined.at(-1) as string
    expect(stateDir).toMatch(new RegExp(`^${dir}/meshpool-node\\.\\w{8}$`))
    expect(statSync(stateDir).mode & 0o777).toBe(0o700)
    expect(existsSync(marker)).toBe(false)
  })

  it('runs each node on the GPUs Slurm names in CUDA_VISIBLE_DEVICES, and on all where that is no list of indexes', async () => {
    const marker = join(tempDir(), 'pwned')
    const { runNodeJob } = await headJobThroughFakes(['fake-meshpool'])
    const gpus = (visible?: string): string | undefined => {
      const args = runNodeJob(visible === undefined ? {} : { CUDA_VISIBLE_DEVICES: visible })
      return args[args.indexOf('--gpus') + 1]
    }
    expect(gpus('2,3')).toBe('2,3')
    expect(gpus('0')).toBe('0')
    for (const visible of [undefined, '', 'NoDevFiles', `0;touch\${IFS}${marker}`, 'GPU-1234-abcd']) {
      expect(gpus(visible), String(visible)).toBe('all')
    }
    expect(existsSync(marker)).toBe(false)
  })

  it('refuses a --partition or --time that sbatch would not take, before writing any script', async () => {
    for (const flag of ['--partition', '--time']) {
      for (const value of HOSTILE.replaceAll('MARKER', '/tmp/x').split('|')) {
        const proc = meshpool(['slurm', flag, value])
        expect(await proc.exited, proc.output()).toBe(2)
        expect(proc.output()).toContain(`meshpool: ${flag} ${JSON.stringify(value)} is not a Slurm ${flag.slice(2)}`)
        expect(proc.output()).not.toContain('#!/bin/bash')
      }
    }
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
    expect(docs.map((d) => d.kind)).toEqual(['Secret', 'Secret', 'Deployment', 'Service', 'Service', 'StatefulSet'])
    for (const doc of docs) expect(doc.metadata.namespace).toBe('ml')

    const [password, identity] = byKind('Secret')
    expect(password.stringData.password.length).toBeGreaterThanOrEqual(24)
    expect(Buffer.from(identity.data['head.key'], 'base64').byteLength).toBeGreaterThan(60)

    const head = byKind('Deployment')[0].spec.template.spec.containers[0]
    expect(head.image).toBe('acme/meshpool:1')
    expect(head.command[0]).toBe('meshpool')
    expect(head.command).toEqual(expect.arrayContaining(['head', '--no-work', '--key-file', '/state/head/head.key']))
    expect(Buffer.from(identity.data['admin.key'], 'base64').toString()).toMatch(/^mpa1_[A-Za-z0-9_-]{43}\n$/)
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

describe('meshpool k8s with hostile values', () => {
  it('keeps --image and --meshpool intact as values, never as YAML or shell, and refuses a bad --namespace', async () => {
    const words = ['meshpool', "';", 'touch', '/tmp/x', '#', '$(id)', '`id`', '"q"', "it's", 'a\nkind:Pod', '\\']
    const image = `evil:1\nkind: Pod\n# '; touch /tmp/x # $(id) \`id\` "q"`
    const text = await print(['k8s', '--image', image, '--meshpool', words.join(' ')])
    const docs = parseAllDocuments(text).map((doc) => {
      expect(doc.errors).toEqual([])
      return doc.toJS()
    })
    expect(docs.map((d) => d.kind)).toEqual(['Secret', 'Secret', 'Deployment', 'Service', 'Service', 'StatefulSet'])
    const head = docs[2].spec.template.spec.containers[0]
    expect(head.image).toBe(image)
    expect(head.command.slice(0, words.length + 1)).toEqual([...words, 'head'])
    const node = docs[5].spec.template.spec.containers[0]
    expect(node.image).toBe(image)
    expect(node.command.slice(0, words.length + 1)).toEqual([...words, 'join'])
    // An emptyDir is mode 0777, which a node refuses as its state folder: it uses a folder inside.
    expect(node.command.at(-1)).toBe('/state/node')

    const refused = meshpool(['k8s', '--namespace', 'ml\nkind: Pod'])
    expect(await refused.exited).toBe(2)
    expect(refused.output()).toContain('is not a Kubernetes namespace')
  })
})

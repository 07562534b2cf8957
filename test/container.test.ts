import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createPool } from 'meshpool'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { meshpool, type Out, stopAll, tempDir, WORKER, waitFor } from './harness.js'
import type { K8sObject } from './k8s-schema.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** What `meshpool k8s` names by default, and what the README's `podman build -t` makes. */
const IMAGE = 'meshpool:latest'
/** Names of this run's containers and network, so that runs side by side don't meet. */
const PREFIX = `meshpool-test-${process.pid}`
const NETWORK = `${PREFIX}-net`
const PACKAGES = 'podman runc debootstrap'

/** The podman commands' environment: the runtime settings ../shared/DEPLOY-NOTES.md measured. */
let env: NodeJS.ProcessEnv = {}
const containers: string[] = []

function podman(args: string[]): string {
  const run = spawnSync('podman', args, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  if (run.status !== 0) throw new Error(`podman ${args.join(' ')} exited ${run.status}: ${run.stderr}${run.stdout}`)
  return run.stdout
}

function logs(name: string): string {
  const run = spawnSync('podman', ['logs', name], { env, encoding: 'utf8' })
  return `${run.stdout}${run.stderr}`
}

/** Everything the containers printed, for a failure's message. */
function allLogs(): string {
  return containers.map((name) => `--- ${name}\n${logs(name)}`).join('\n')
}

/** Why podman can't run here, or undefined: it needs root here (a bridge network, debootstrap) and the packages. */
function podmanUnavailable(): string | undefined {
  const uid = process.getuid?.()
  if (uid !== 0) {
    return `the container test runs podman as root (debootstrap, a bridge network), and this runs as uid ${uid}: run it as root, as CI does`
  }
  const path = `${process.env.PATH}:/usr/sbin:/sbin`
  for (const command of ['podman', 'runc', 'debootstrap']) {
    if (spawnSync('sh', ['-c', `command -v ${command}`], { env: { ...process.env, PATH: path } }).status !== 0) {
      return `no ${command} on PATH: install Debian's ${PACKAGES} (apt-get install -y --no-install-recommends ${PACKAGES}; .ci/run does)`
    }
  }
  return undefined
}

/** Starts a container in the background on the test's network; `args` go before the image, `command` after. */
function start(name: string, args: string[], command: string[]): void {
  containers.push(name)
  podman(['run', '-d', '--name', name, '--network', NETWORK, ...args, IMAGE, ...command])
}

async function waitReady(name: string): Promise<void> {
  await waitFor(() => /^ready$/m.test(logs(name)), 60_000, `${name} to print ready`, allLogs)
}

const timings: string[] = []
function timed<T>(what: string, work: () => T): T {
  const begun = Date.now()
  const result = work()
  timings.push(`${what} took ${Date.now() - begun} ms`)
  return result
}

/** The local base image's name, made by scripts/container-base.sh unless a run before made it. */
function makeBase(): string {
  const run = spawnSync('bash', [join(ROOT, 'scripts/container-base.sh')], { env, encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`scripts/container-base.sh exited ${run.status}:\n${run.stderr}`)
  // Its last line on stderr says whether the base was cached or made.
  timings.push(`the base: ${run.stderr.trim().split('\n').pop()}`)
  return run.stdout.trim().split('\n').pop() as string
}

beforeAll(() => {
  const why = podmanUnavailable()
  if (why !== undefined) throw new Error(why)
  // Root here lacks CAP_SYS_RESOURCE (open files are capped), and crun refuses the hybrid cgroups.
  const conf = join(tempDir(), 'containers.conf')
  writeFileSync(
    conf,
    '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n[engine]\nruntime = "runc"\n',
  )
  env = { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin`, CONTAINERS_CONF: conf }
  const base = timed('scripts/container-base.sh', makeBase)
  timed('the one-file build (scripts/build-dist.mjs)', () =>
    execFileSync(process.execPath, [join(ROOT, 'scripts/build-dist.mjs')], { stdio: 'pipe' }),
  )
  timed(`podman build of ${IMAGE}`, () =>
    podman(['build', '--quiet', '--build-arg', `BASE=${base}`, '-t', IMAGE, ROOT]),
  )
  podman(['network', 'create', NETWORK])
}, 420_000)

afterAll(async () => {
  console.log(timings.join('\n'))
  // Also when a test failed: its containers (with their anonymous /state volumes) and network go.
  if (containers.length > 0) spawnSync('podman', ['rm', '--force', '--volumes', '--time', '0', ...containers], { env })
  spawnSync('podman', ['network', 'rm', '--force', NETWORK], { env })
  await stopAll()
}, 60_000)

interface Pod {
  image: string
  command: string[]
  volumeMounts?: Array<{ mountPath: string; readOnly?: boolean }>
}

/** The manifests as a user prints them, every flag at its default but CPU nodes (no GPUs here). */
async function printedManifests(): Promise<{
  head: Pod
  node: Pod
  password: string
  keyFiles: Record<string, string>
}> {
  const proc = meshpool(['k8s', '--workers', '2', '--gpus-per-worker', '0'])
  expect(await proc.exited, proc.output()).toBe(0)
  const docs = parseAllDocuments(proc.output()).map((doc) => doc.toJS() as K8sObject)
  const find = (kind: string, name: string) =>
    docs.find((doc) => doc.kind === kind && doc.metadata.name === name) as K8sObject
  const pod = (kind: string, name: string) =>
    (find(kind, name).spec as { template: { spec: { containers: Pod[] } } }).template.spec.containers[0] as Pod
  return {
    head: pod('Deployment', 'meshpool-head'),
    node: pod('StatefulSet', 'meshpool-nodes'),
    password: (find('Secret', 'meshpool-password').stringData as { password: string }).password,
    keyFiles: find('Secret', 'meshpool-head-identity').data as Record<string, string>,
  }
}

/** The slot that ran one of `node`'s jobs runs as the image's meshpool-slot user, not root. */
function expectSlotUser(results: Out[], node: string): void {
  const slotUid = podman(['exec', node, 'id', '-u', 'meshpool-slot']).trim()
  expect(slotUid).not.toBe('0')
  const peerId = /^node (\S+) with/m.exec(logs(node))?.[1]
  const job = results.find((r) => r.node === peerId) as Out
  const status = podman(['exec', node, 'cat', `/proc/${job.pid}/status`])
  expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe(slotUid)
}

/** The test worker maps on both nodes; node-1's slots run as meshpool-slot (the uid of the process that ran its jobs). */
async function expectMapOnBoth(head: string, password: string): Promise<void> {
  await using pool = await createPool({ worker: WORKER, head, password, output: 'ignore' })
  const inputs = Array.from({ length: 60 }, (_, x) => ({ x, delayMs: 20 }))
  const results = (await pool.map(inputs)) as Out[]
  expect(
    results.map((r) => r.y),
    allLogs(),
  ).toEqual(inputs.map(({ x }) => x * 2))
  expect(new Set(results.map((r) => r.node)).size, 'both nodes ran jobs').toBe(2)
  // While the pool is open, so that its slots are there to look at.
  expectSlotUser(results, `${PREFIX}-node-1`)
}

/** node_modules with one package, `meshpool-image-dep`, for the nodes' /work. */
function workPackages(): string {
  const dir = join(tempDir(), 'node_modules')
  const pkg = join(dir, 'meshpool-image-dep')
  mkdirSync(pkg, { recursive: true })
  writeFileSync(join(pkg, 'package.json'), '{"name":"meshpool-image-dep","type":"module","exports":"./index.js"}\n')
  writeFileSync(join(pkg, 'index.js'), 'export const triple = (x) => x * 3\n')
  chmodSync(dirname(dir), 0o755)
  return dir
}

/** A shipped worker that imports a package the client doesn't have: every node finds it in /work/node_modules. */
async function expectImportsFromWork(head: string, password: string): Promise<void> {
  const worker = join(tempDir(), 'triple-worker.js')
  writeFileSync(
    worker,
    [
      "import { triple } from 'meshpool-image-dep'",
      'export default class {',
      '  constructor(init, ctx) { this.node = ctx.nodeId }',
      '  async run({ x }) { await new Promise((r) => setTimeout(r, 50)); return { y: triple(x), node: this.node } }',
      '}',
    ].join('\n'),
  )
  await using pool = await createPool({ worker: pathToFileURL(worker), head, password, output: 'ignore' })
  const results = (await pool.map(Array.from({ length: 30 }, (_, x) => ({ x })))) as Array<{ y: number; node: string }>
  expect(results.map((r) => r.y)).toEqual(Array.from({ length: 30 }, (_, x) => x * 3))
  expect(new Set(results.map((r) => r.node)).size, `both nodes ran jobs\n${allLogs()}`).toBe(2)
}

describe('the container image (Containerfile)', () => {
  it('has meshpool as its entrypoint, and as `meshpool` on the PATH', () => {
    const [config] = JSON.parse(podman(['image', 'inspect', IMAGE])) as Array<{
      Config: { Entrypoint: string[]; Env: string[] }
    }>
    expect(config?.Config.Entrypoint).toEqual(['meshpool'])
    expect(podman(['run', '--rm', IMAGE, '--help'])).toMatch(/^ {2}join /m)
    // A Kubernetes `command` replaces the entrypoint: the manifests' `meshpool …` must be found on the PATH.
    expect(
      podman(['run', '--rm', '--entrypoint', '', IMAGE, 'sh', '-c', 'command -v meshpool; node --version']),
    ).toMatch(/^\/usr\/local\/bin\/meshpool\nv22\.\d+\.\d+\n$/)
  })

  it("runs the k8s manifests' head and nodes as containers, and a client on the host maps on them", async () => {
    const { head, node, password, keyFiles } = await printedManifests()
    expect([head.image, node.image]).toEqual([IMAGE, IMAGE])
    expect(Object.keys(keyFiles).sort()).toEqual(['admin.key', 'head.key'])

    // The pod's volumes as the kubelet mounts them: the emptyDir, and each file of the identity Secret
    // (the file root's, mode 0400) read-only at its subPath inside it.
    const mounts = head.volumeMounts ?? []
    expect(mounts.map((m) => [m.mountPath, m.readOnly ?? false])).toEqual([
      ['/state', false],
      ['/state/head/head.key', true],
      ['/state/head/admin.key', true],
    ])
    const state = join(tempDir(), 'state')
    const identity = join(tempDir(), 'identity')
    mkdirSync(state, { mode: 0o777 })
    mkdirSync(identity)
    const volumes = ['--volume', `${state}:/state`]
    for (const [file, base64] of Object.entries(keyFiles)) {
      writeFileSync(join(identity, file), Buffer.from(base64, 'base64'))
      chmodSync(join(identity, file), 0o400)
      volumes.push('--volume', `${join(identity, file)}:/state/head/${file}:ro`)
    }
    const secret = ['--env', `MESHPOOL_PASSWORD=${password}`]
    // As a pod runs it: the manifest's command in place of the entrypoint. Its port is published on the host.
    start(`${PREFIX}-head`, [...secret, ...volumes, '--publish', '127.0.0.1::8899', '--entrypoint', ''], head.command)
    await waitReady(`${PREFIX}-head`)
    // It took the Secret's admin key, and writes beside its key file: revoke and stop work.
    expect(logs(`${PREFIX}-head`)).toContain(
      'revoke and stop nodes with its admin key: --admin-key /state/head/admin.key',
    )
    expect(logs(`${PREFIX}-head`)).not.toMatch(/can't write/)

    // The nodes join /dns4/meshpool-head.default.svc.cluster.local/…: here that name is the head's address on
    // the network (CNI's bridge here has no DNS plugin). One runs as a pod would; the other as
    // `podman run meshpool:latest join …`, its slots as the image's unprivileged user.
    const headIp = podman([
      'inspect',
      '--format',
      '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}',
      `${PREFIX}-head`,
    ]).trim()
    const address = node.command[2] as string
    const hostName = /^\/dns4\/([^/]+)\//.exec(address)?.[1] as string
    // The packages workers import, in the image's working folder, as an image built FROM it would have them.
    const nodeArgs = [
      ...secret,
      '--add-host',
      `${hostName}:${headIp}`,
      '--volume',
      `${workPackages()}:/work/node_modules:ro`,
    ]
    start(`${PREFIX}-node-0`, [...nodeArgs, '--entrypoint', ''], node.command)
    start(`${PREFIX}-node-1`, nodeArgs, [...node.command.slice(1), '--slot-user', 'meshpool-slot'])
    await Promise.all([waitReady(`${PREFIX}-node-0`), waitReady(`${PREFIX}-node-1`)])

    const port = /127\.0\.0\.1:(\d+)/.exec(podman(['port', `${PREFIX}-head`, '8899']))?.[1] as string
    const published = address.replace(/^\/dns4\/[^/]+\/tcp\/\d+/, `/ip4/127.0.0.1/tcp/${port}`)
    await expectMapOnBoth(published, password)
    await expectImportsFromWork(published, password)
  })
})

import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { capture, PASSWORD, type Proc, stopAll, tempDir } from './harness.js'
import { childPids } from './proc-table.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const PACKAGES = ['core', 'node', 'cli']
/** npm fetches the packages' dependencies from the registry (its cache makes a second run faster). */
const INSTALL_TIMEOUT_MS = 300_000

/** A project outside the workspace with the three tarballs installed by npm. */
let project = ''
const started: Proc[] = []

/** Runs the installed `meshpool` command (node_modules/.bin) in the project. */
function installed(args: string[]): Proc {
  const child = spawn(join(project, 'node_modules/.bin/meshpool'), args, {
    cwd: project,
    env: { ...process.env, MESHPOOL_PASSWORD: PASSWORD, MESHPOOL_STATE_DIR: tempDir() },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const proc = capture(child)
  started.push(proc)
  return proc
}

beforeAll(() => {
  const tarballs = tempDir()
  let begun = Date.now()
  // pnpm pack, not npm pack: it writes the versions in place of `workspace:*`.
  for (const name of PACKAGES) {
    execFileSync('pnpm', ['pack', '--pack-destination', tarballs], { cwd: join(ROOT, 'packages', name), stdio: 'pipe' })
  }
  console.log(`pnpm pack of ${PACKAGES.length} packages took ${Date.now() - begun} ms`)
  project = join(tempDir(), 'app')
  mkdirSync(project)
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
  const files = readdirSync(tarballs).map((file) => join(tarballs, file))
  expect(files).toHaveLength(3)
  begun = Date.now()
  execFileSync('npm', ['install', '--no-audit', '--no-fund', ...files], {
    cwd: project,
    stdio: 'pipe',
    timeout: INSTALL_TIMEOUT_MS,
  })
  const size = execFileSync('du', ['-sh', join(project, 'node_modules')])
    .toString()
    .split('\t')[0]
  console.log(`npm install of the tarballs took ${Date.now() - begun} ms; node_modules: ${size}`)
}, INSTALL_TIMEOUT_MS + 60_000)

afterAll(async () => {
  for (const proc of started) proc.child.kill('SIGTERM')
  await Promise.all(started.map((proc) => proc.exited))
  await stopAll() // and the temp folders
})

describe('the packages as npm installs them from their tarballs', () => {
  it('have no workspace: versions, and hold their types', () => {
    for (const name of ['meshpool', '@meshpool/node', '@meshpool/core']) {
      const folder = join(project, 'node_modules', name)
      const manifest = readFileSync(join(folder, 'package.json'), 'utf8')
      expect(manifest).not.toContain('workspace:')
      const types = (JSON.parse(manifest) as { types: string }).types
      expect(existsSync(join(folder, types)), `${name}: ${types}`).toBe(true)
    }
  })

  it('run `meshpool head` and `meshpool join` from the project, and a program there maps on them', async () => {
    const head = installed([
      'head',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--no-work',
      '--key-file',
      join(project, 'head.key'),
    ])
    await head.waitForLine(/^ready$/, 30_000)
    const address = /\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+/.exec(head.output())?.[0] as string
    const nodes = [installed(['join', address, '--slots', '1']), installed(['join', address, '--slots', '1'])]
    await Promise.all(nodes.map((node) => node.waitForLine(/^ready$/, 30_000)))
    // They run the installed copy, not this checkout's: a node's slot is the installed @meshpool/node's.
    const slots = childPids(nodes[0]?.child.pid as number)
    expect(slots).toHaveLength(1)
    expect(readFileSync(`/proc/${slots[0]}/cmdline`, 'utf8')).toContain(
      join(project, 'node_modules/@meshpool/node/dist/slot/main.js'),
    )

    writeFileSync(
      join(project, 'worker.js'),
      [
        'export default class Square {',
        '  constructor(init, ctx) {',
        '    this.node = ctx.nodeId',
        '  }',
        '  run({ x }) {',
        '    return { y: x * x, node: this.node }',
        '  }',
        '}',
        '',
      ].join('\n'),
    )
    writeFileSync(
      join(project, 'main.js'),
      [
        "import { createPool } from 'meshpool'",
        '',
        "const pool = await createPool({ worker: new URL('./worker.js', import.meta.url), head: process.argv[2] })",
        'try {',
        '  const results = await pool.map(Array.from({ length: 50 }, (_, x) => ({ x })))',
        '  console.log(JSON.stringify({ ys: results.map((r) => r.y), nodes: [...new Set(results.map((r) => r.node))] }))',
        '} finally {',
        '  await pool.close()',
        '}',
        '',
      ].join('\n'),
    )
    const client = capture(
      spawn(process.execPath, ['main.js', address], {
        cwd: project,
        env: { ...process.env, MESHPOOL_PASSWORD: PASSWORD },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    )
    expect(await client.exited, client.output()).toBe(0)
    const out = JSON.parse(
      client
        .output()
        .split('\n')
        .find((line) => line.startsWith('{')) ?? '{}',
    )
    expect(out.ys).toEqual(Array.from({ length: 50 }, (_, x) => x * x))
    expect(out.nodes).toHaveLength(2)
  })
})

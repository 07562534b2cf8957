import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { type Head, meshpool, PASSWORD, type Proc, startHead, stopAll, tempDir } from './harness.js'

afterEach(stopAll)

/** A worker that lives only in a folder of the client's, importing a file beside it. */
function clientWorker(version: number): URL {
  const dir = tempDir()
  writeFileSync(join(dir, 'helper.js'), `export const helper = (x) => x * ${version}\n`)
  writeFileSync(
    join(dir, 'worker.js'),
    `import { helper } from './helper.js'
export default class Shipped {
  run(x) { return { version: ${version}, value: helper(x), pid: process.pid } }
}
`,
  )
  return pathToFileURL(join(dir, 'worker.js'))
}

/** A node started in a folder of its own (it has no copy of the worker), with its own state folder. */
async function nodeIn(head: Head, cwd: string, stateDir = tempDir()): Promise<Proc & { stateDir: string }> {
  const proc = meshpool(['join', head.address, '--slots', '1', '--name', `node-in-${cwd.slice(-6)}`], {}, { cwd })
  await proc.waitForLine(/^ready$/)
  return { ...proc, stateDir }
}

/** A folder with an installed package, as a node's working directory might have. */
function folderWithPackage(name: string, value: string): string {
  const dir = tempDir()
  const pkg = join(dir, 'node_modules', name)
  mkdirSync(pkg, { recursive: true })
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name, type: 'module', exports: './index.js' }))
  writeFileSync(join(pkg, 'index.js'), `export const greeting = ${JSON.stringify(value)}\n`)
  return dir
}

describe('shipped worker code', () => {
  it('runs a worker that exists only on the client, and the edited one on the next pool', async () => {
    const head = await startHead({ noWork: true })
    const stateDir = tempDir()
    const node = meshpool(['join', head.address, '--slots', '1', '--state-dir', stateDir], {}, { cwd: tempDir() })
    await node.waitForLine(/^ready$/)
    const first = clientWorker(1)
    {
      await using pool = await createPool({ worker: first, head: head.address, password: PASSWORD })
      expect(await pool.map([1, 2, 3])).toMatchObject([
        { version: 1, value: 1 },
        { version: 1, value: 2 },
        { version: 1, value: 3 },
      ])
    }
    writeFileSync(
      new URL('./helper.js', first),
      'export const helper = (x) => x * 100\n', // the edit
    )
    {
      await using pool = await createPool({ worker: first, head: head.address, password: PASSWORD })
      expect(await pool.submit(2)).toMatchObject({ version: 1, value: 200 })
    }
    // Each version was fetched once and cached by its hash in the node's state folder.
    const cached = readdirSync(join(stateDir, 'code'))
    expect(cached).toHaveLength(2)
    for (const file of cached) expect(file).toMatch(/^[0-9a-f]{64}\.mjs$/)
  })

  it('resolves package imports where the node runs; a node without the package is left out of the pool, with a line saying why', async () => {
    const head = await startHead({ noWork: true })
    const withPackage = await nodeIn(head, folderWithPackage('meshpool-test-greeting', 'hello from the node'))
    const without = await nodeIn(head, tempDir())
    const lines: string[] = []
    const worker = clientWorker(1)
    writeFileSync(
      worker,
      `import { greeting } from 'meshpool-test-greeting'
export default class Greeter {
  run(x) { return { x, greeting, pid: process.pid } }
}
`,
    )
    await using pool = await createPool({
      worker,
      head: head.address,
      password: PASSWORD,
      output: (line) => lines.push(line),
    })
    const results = (await pool.map(Array.from({ length: 40 }, (_, x) => x))) as Array<{ x: number; greeting: string }>
    expect(results.map((r) => r.x)).toEqual(Array.from({ length: 40 }, (_, x) => x))
    expect(new Set(results.map((r) => r.greeting))).toEqual(new Set(['hello from the node']))
    await expect
      .poll(() => lines.join('\n'))
      .toMatch(/it imports the package "meshpool-test-greeting", which this node can't find/)
    expect(withPackage.output()).not.toMatch(/can't find/)
    await expect.poll(() => without.output()).toMatch(/meshpool-test-greeting/)
  })

  it('fails the pool with one clear WorkerLoadError naming the package when no node has it', async () => {
    const head = await startHead({ noWork: true })
    await nodeIn(head, tempDir())
    const worker = clientWorker(1)
    writeFileSync(
      worker,
      "import pad from 'meshpool-test-no-such-package'\nexport default class W { run(x) { return pad(x) } }\n",
    )
    await using pool = await createPool({ worker, head: head.address, password: PASSWORD, output: 'ignore' })
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, (_, x) => pool.submit(x)))
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected')
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({
        name: 'WorkerLoadError',
        message: expect.stringMatching(/imports the package "meshpool-test-no-such-package"/),
      })
    }
  })

  it('a module esbuild can not bundle is refused at createPool, with ship: false as the way out', async () => {
    const head = await startHead({ noWork: true })
    const worker = clientWorker(1)
    writeFileSync(worker, 'export default class W { run(x) { return x +* 2 } }\n')
    await expect(createPool({ worker, head: head.address, password: PASSWORD })).rejects.toMatchObject({
      name: 'WorkerLoadError',
      message: expect.stringMatching(/can't bundle the worker module .*ship: false/s),
    })
  })

  it('ship: false loads the worker by its path on the node', async () => {
    const head = await startHead({ noWork: true })
    await nodeIn(head, tempDir())
    const worker = clientWorker(7)
    await using pool = await createPool({ worker, head: head.address, password: PASSWORD, ship: false })
    expect(await pool.submit(3)).toMatchObject({ version: 7, value: 21 })
  })
})

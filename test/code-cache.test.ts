import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { meshpool, PASSWORD, startHead, stopAll, tempDir } from './harness.js'

afterEach(stopAll)

describe("a node's cache of shipped code", () => {
  it('checks the sha-256 of a cached file each time it is loaded: a tampered one never runs and is fetched again', async () => {
    const head = await startHead({ noWork: true })
    const stateDir = tempDir()
    const joinNode = () =>
      meshpool(['join', head.address, '--slots', '1', '--state-dir', stateDir], {}, { cwd: tempDir() })
    const first = joinNode()
    await first.waitForLine(/^ready$/)
    const dir = tempDir()
    writeFileSync(join(dir, 'worker.js'), 'export default class Honest { run(x) { return { honest: x * 2 } } }\n')
    const worker = pathToFileURL(join(dir, 'worker.js'))
    {
      await using pool = await createPool({ worker, head: head.address, password: PASSWORD })
      expect(await pool.submit(1)).toEqual({ honest: 2 })
    }
    const [name] = readdirSync(join(stateDir, 'code'))
    expect(name).toMatch(/^[0-9a-f]{64}\.mjs$/)
    const cached = join(stateDir, 'code', name as string)
    const original = readFileSync(cached)

    // Between two pools, while the node restarts, someone who can write the folder (a worker, say)
    // swaps the cached code.
    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    const marker = join(dir, 'tampered-code-ran')
    writeFileSync(
      cached,
      `import { writeFileSync } from 'node:fs'
export default class Tampered { run() { writeFileSync(${JSON.stringify(marker)}, 'ran'); return 'tampered' } }
`,
    )
    const node = joinNode()
    await node.waitForLine(/^ready$/)
    {
      await using pool = await createPool({ worker, head: head.address, password: PASSWORD })
      expect(await pool.map([3, 4])).toEqual([{ honest: 6 }, { honest: 8 }])
    }
    expect(existsSync(marker)).toBe(false)
    expect(readFileSync(cached)).toEqual(original)
    expect(node.output()).toContain(
      `the cached code ${cached} does not match its sha-256 (it changed on disk): deleted it, fetching it again`,
    )
  })
})

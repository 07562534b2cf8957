import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { meshpool, PASSWORD, startHead, stopAll, tempDir } from './harness.js'

afterEach(stopAll)

/** A worker in a folder of the client's that imports `specifier` and returns what it exports. */
function workerImporting(specifier: string): URL {
  const file = join(tempDir(), 'worker.js')
  writeFileSync(
    file,
    `import * as imported from '${specifier}'
export default class Importer {
  run() { return Object.keys(imported).length > 0 }
}
`,
  )
  return pathToFileURL(file)
}

describe("shipped workers' package imports", () => {
  it("resolve from the node's working directory only: a package beside meshpool's own install is missing, meshpool itself is found", async () => {
    const head = await startHead({ noWork: true })
    // A node started in an empty folder: no node_modules there or above it.
    const node = meshpool(['join', head.address, '--slots', '1', '--name', 'bare-node'], {}, { cwd: tempDir() })
    await node.waitForLine(/^ready$/)

    // prom-client is a dependency of meshpool's node package, so it sits beside meshpool's install,
    // but the node's working directory has no such package: the user must learn that here.
    {
      await using pool = await createPool({
        worker: workerImporting('prom-client'),
        head: head.address,
        password: PASSWORD,
        output: 'ignore',
      })
      await expect(pool.submit(1)).rejects.toMatchObject({
        name: 'WorkerLoadError',
        message: expect.stringMatching(/imports the package "prom-client", which this node can't find/),
      })
    }
    // meshpool's own packages still resolve wherever the node runs.
    {
      await using pool = await createPool({
        worker: workerImporting('@meshpool/core'),
        head: head.address,
        password: PASSWORD,
        output: 'ignore',
      })
      expect(await pool.submit(1)).toBe(true)
    }
  })
})

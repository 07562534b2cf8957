import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { BIN, stopAll, tempDir } from './harness.js'

afterEach(stopAll)

/** Runs `meshpool --version` with `env` over this environment less Node's own compile-cache switches. */
function version(env: NodeJS.ProcessEnv): void {
  const { NODE_COMPILE_CACHE, NODE_DISABLE_COMPILE_CACHE, XDG_CACHE_HOME, ...rest } = process.env
  const run = spawnSync(process.execPath, [BIN, '--version'], { env: { ...rest, ...env }, encoding: 'utf8' })
  expect(run.status, run.stderr).toBe(0)
}

describe("the CLI's compiled code", () => {
  it("is kept between runs in the user's own cache (a folder of mode 0700), not in the shared temp folder", () => {
    const home = tempDir()
    version({ HOME: home })
    const dir = join(home, '.cache', 'meshpool', 'compile')
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    const versions = readdirSync(dir)
    expect(versions).toHaveLength(1)
    expect(readdirSync(join(dir, versions[0] as string)).length).toBeGreaterThan(5)
  })

  it('goes where XDG_CACHE_HOME says, where it is set', () => {
    const cache = tempDir()
    version({ XDG_CACHE_HOME: cache })
    expect(readdirSync(join(cache, 'meshpool', 'compile'))).toHaveLength(1)
  })
})

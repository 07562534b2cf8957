import { chmodSync, existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { meshpool, stopAll, tempDir } from './harness.js'

afterEach(stopAll)

/** No head is needed: the state folder is checked before the node dials one. */
const HEAD = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWBtg3aaRMjU2RUXKQGJGXnkqXtbvnnvmVjJmnC8WkanaR'

describe('meshpool join --state-dir', () => {
  it('refuses a folder others can write, naming the chmod that fixes it, and runs no node there', async () => {
    const dir = tempDir()
    chmodSync(dir, 0o777)
    const node = meshpool(['join', HEAD, '--slots', '1', '--state-dir', dir])
    expect(await node.exited, node.output()).toBe(2)
    expect(node.output()).toContain(
      `meshpool: the state folder ${dir} can be written by other users (mode 777), who could change the code this node runs; run: chmod 700 ${dir}`,
    )
    expect(existsSync(join(dir, 'node.lock'))).toBe(false)
    expect(existsSync(join(dir, 'node.key'))).toBe(false)
  })

  it('makes a folder that does not exist yet private (mode 0700) and goes on to dial the head', async () => {
    const dir = join(tempDir(), 'fresh', 'node')
    const node = meshpool(['join', HEAD, '--slots', '1', '--state-dir', dir])
    expect(await node.exited).toBe(1)
    expect(node.output()).toContain("meshpool: can't reach the head at 127.0.0.1:1")
    expect(statSync(dir).mode & 0o777).toBe(0o700)
  })
})

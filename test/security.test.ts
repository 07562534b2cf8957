import { chmodSync } from 'node:fs'
import { join } from 'node:path'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { meshpool, stopAll, tempDir, WORKER } from './harness.js'

afterEach(stopAll)

describe('a pool key file instead of a password', () => {
  it('keygen writes one; head, node and client use it; a node with a password or an open key file is refused', async () => {
    const dir = tempDir()
    const key = join(dir, 'pool.key')
    const keygen = meshpool(['keygen', key])
    expect(await keygen.exited).toBe(0)
    expect(keygen.output()).toMatch(/wrote a pool key .* \(mode 0600\)/)
    expect(keygen.output()).toMatch(/--pool-key/)
    const again = meshpool(['keygen', key])
    expect(await again.exited).toBe(2)
    expect(again.output()).toMatch(/never overwrites/)

    const head = meshpool([
      'head',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--no-work',
      '--key-file',
      join(dir, 'head.key'),
      '--pool-key',
      key,
    ])
    await head.waitForLine(/^ready$/)
    expect(head.output()).toMatch(/with a copy of the pool key file/)
    const address = /\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+/.exec(head.output())?.[0] as string
    const node = meshpool(['join', address, '--slots', '1', '--pool-key', key])
    await node.waitForLine(/^ready$/)
    await using pool = await createPool({ worker: WORKER, head: address, poolKeyFile: key, output: 'ignore' })
    const results = (await pool.map([{ x: 1 }, { x: 2 }])) as Array<{ y: number }>
    expect(results.map((r) => r.y)).toEqual([2, 4])

    // The harness gives every process the test password: without --pool-key, that is what it uses.
    const withPassword = meshpool(['join', address, '--slots', '1'])
    expect(await withPassword.exited).toBe(1)
    expect(withPassword.output()).toMatch(/refused the handshake/)

    chmodSync(key, 0o640)
    const openKey = meshpool(['join', address, '--slots', '1', '--pool-key', key])
    expect(await openKey.exited).toBe(2)
    expect(openKey.output()).toContain(`run: chmod 600 ${key}`)
  })
})

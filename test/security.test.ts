import { appendFileSync, chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { freePort, joinNode, meshpool, PASSWORD, startHead, stopAll, tempDir, WORKER } from './harness.js'

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

describe('revoking a node', () => {
  it('disconnects it at once, its jobs finish elsewhere, it can not rejoin, and the other nodes carry on', async () => {
    const head = await startHead({ noWork: true })
    const stateDir = tempDir()
    const bad = await joinNode(head.address, 1, { MESHPOOL_STATE_DIR: stateDir })
    await joinNode(head.address, 1)
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    const running = pool.map(Array.from({ length: 60 }, (_, x) => ({ x, delayMs: 40 })))
    await bad.waitForLine(/^ready$/)
    const revoke = meshpool(['revoke', bad.peerId, '--head', head.address])
    expect(await revoke.exited).toBe(0)
    expect(revoke.output()).toContain(`revoked ${bad.peerId}: disconnected, and refused from now on`)
    expect(await bad.exited).toBe(1)
    expect(bad.output()).toMatch(/the head revoked this node/)
    const results = (await running) as Array<{ x: number; y: number }>
    expect(results.map((r) => r.y)).toEqual(Array.from({ length: 60 }, (_, x) => x * 2))
    expect(await pool.nodesCount()).toBe(1)

    // The same node (same state folder, so the same peer id) comes back: refused, and says so.
    const again = meshpool(['join', head.address, '--slots', '1'], { MESHPOOL_STATE_DIR: stateDir })
    expect(await again.exited).toBe(1)
    expect(again.output()).toMatch(/accepted the password but refused this peer .*revoked/)
    expect(await pool.nodesCount()).toBe(1)
    expect((await pool.map([{ x: 5 }])) as Array<{ y: number }>).toEqual([expect.objectContaining({ y: 10 })])
  })

  it('stays revoked across a restart of the head', async () => {
    const keyFile = join(tempDir(), 'head.key')
    const port = await freePort()
    let head = await startHead({ noWork: true, keyFile, port })
    const stateDir = tempDir()
    const node = await joinNode(head.address, 1, { MESHPOOL_STATE_DIR: stateDir })
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    expect(await pool.revoke(node.peerId)).toBe(true)
    expect(await node.exited).toBe(1)
    head.child.kill('SIGTERM')
    await head.exited
    head = await startHead({ noWork: true, keyFile, port })
    const again = meshpool(['join', head.address, '--slots', '1'], { MESHPOOL_STATE_DIR: stateDir })
    expect(await again.exited).toBe(1)
    expect(again.output()).toMatch(/refused this peer .*revoked/)
  })
})

describe('--allow-peers', () => {
  it('lets only the listed peer ids join as nodes, says so to the others, and checks the file', async () => {
    const dir = tempDir()
    const allow = join(dir, 'allow.txt')
    const keyFile = join(dir, 'head.key')
    const port = String(await freePort())
    const headArgs = ['head', '--host', '127.0.0.1', '--port', port, '--no-work', '--key-file', keyFile]
    writeFileSync(allow, '# the GPU boxes\n12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN\nnot-a-peer-id\n')
    const badFile = meshpool([...headArgs, '--allow-peers', allow])
    expect(await badFile.exited).toBe(2)
    expect(badFile.output()).toMatch(/allow\.txt line 3: "not-a-peer-id" is not a peer id/)

    writeFileSync(allow, '# the GPU boxes\n12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN\n')
    let head = meshpool([...headArgs, '--allow-peers', allow])
    await head.waitForLine(/^ready$/)
    const address = /\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+/.exec(head.output())?.[0] as string
    const stateDir = tempDir()
    const unlisted = meshpool(['join', address, '--slots', '1'], { MESHPOOL_STATE_DIR: stateDir })
    expect(await unlisted.exited).toBe(1)
    const refused = /node (\S+) is not in the head's --allow-peers list/.exec(unlisted.output())
    expect(refused, unlisted.output()).not.toBeNull()

    // Listed (the head reads the file when it starts), the same node joins.
    appendFileSync(allow, `${refused?.[1]}\n`)
    head.child.kill('SIGTERM')
    await head.exited
    head = meshpool([...headArgs, '--allow-peers', allow])
    await head.waitForLine(/^ready$/)
    const listed = meshpool(['join', address, '--slots', '1'], { MESHPOOL_STATE_DIR: stateDir })
    await listed.waitForLine(/^ready$/)
    await using pool = await createPool({ worker: WORKER, head: address, password: PASSWORD, output: 'ignore' })
    expect(((await pool.map([{ x: 3 }])) as Array<{ y: number }>)[0]?.y).toBe(6)
  })
})

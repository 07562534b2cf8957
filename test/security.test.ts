import { appendFileSync, chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { CLIENT_PROTOCOL, encodeFrame, encodeValue, WORK_PROTOCOL } from '@meshpool/core'
import { multiaddr } from '@multiformats/multiaddr'
import { createPool, newIdentity } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { freePort, joinNode, meshpool, PASSWORD, startHead, stopAll, tempDir, WORKER } from './harness.js'
import { fuzzGossip, hostilePeer, seeded, varint } from './hostile-peer.js'

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

    const head = await startHead({ noWork: true, args: ['--pool-key', key] })
    expect(head.output()).toMatch(/with a copy of the pool key file/)
    const address = head.address
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
    const keyFile = join(tempDir(), 'head.key')
    const head = await startHead({ noWork: true, keyFile })
    const stateDir = tempDir()
    const bad = await joinNode(head.address, 1, { MESHPOOL_STATE_DIR: stateDir })
    await joinNode(head.address, 1)
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    const running = pool.map(Array.from({ length: 60 }, (_, x) => ({ x, delayMs: 40 })))
    await bad.waitForLine(/^ready$/)
    const adminKey = join(dirname(keyFile), 'admin.key')
    const revoke = meshpool(['revoke', bad.peerId, '--head', head.address, '--admin-key', adminKey])
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
    const adminKeyFile = join(dirname(keyFile), 'admin.key')
    await using pool = await createPool({
      worker: WORKER,
      head: head.address,
      password: PASSWORD,
      output: 'ignore',
      adminKeyFile,
    })
    expect(await pool.revoke(node.peerId)).toBe(true)
    expect(await node.exited).toBe(1)
    head.child.kill('SIGTERM')
    await head.exited
    head = await startHead({ noWork: true, keyFile, port })
    const again = meshpool(['join', head.address, '--slots', '1'], { MESHPOOL_STATE_DIR: stateDir })
    expect(await again.exited).toBe(1)
    expect(again.output(), again.output()).toMatch(/refused this peer .*revoked/)
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

    // Listed (the head reads the file when it starts), the same node joins; so does a listed client.
    const client = await newIdentity()
    const identityFile = join(dir, 'client.key')
    writeFileSync(identityFile, client.keyFile, { mode: 0o600 })
    appendFileSync(allow, `${refused?.[1]}\n${client.peerId}\n`)
    head.child.kill('SIGTERM')
    await head.exited
    head = meshpool([...headArgs, '--allow-peers', allow])
    await head.waitForLine(/^ready$/)
    const listed = meshpool(['join', address, '--slots', '1'], { MESHPOOL_STATE_DIR: stateDir })
    await listed.waitForLine(/^ready$/)
    await using pool = await createPool({
      worker: WORKER,
      head: address,
      password: PASSWORD,
      output: 'ignore',
      identityFile,
    })
    expect(((await pool.map([{ x: 3 }])) as Array<{ y: number }>)[0]?.y).toBe(6)

    // A peer with the pool key but not on the list can't connect to the head, nor to a node
    // (the head gave its nodes the list): no streams, no gossip, no blobs.
    const nodeAddress = /listens for other nodes on (\S+)/.exec(listed.output())?.[1] as string
    const outsider = await hostilePeer(address.split('/p2p/')[1] as string)
    try {
      for (const target of [address, nodeAddress]) {
        const dialed = await outsider.dial(multiaddr(target), { signal: AbortSignal.timeout(5000) }).then(
          () => 'connected',
          (err: Error) => String(err.message ?? err),
        )
        expect(dialed, target).toContain('its --allow-peers list lacks this peer id')
      }
    } finally {
      await outsider.stop()
    }
    await head.waitForLine(/refused \S+ at the handshake: it is not in the head's --allow-peers list/)
  })
})

describe('a member that pretends', () => {
  it('a result for a lease it does not hold and an update it publishes are ignored and logged; the honest client sees nothing', async () => {
    const head = await startHead({ noWork: true })
    const honest = [await joinNode(head.address, 1), await joinNode(head.address, 1)]
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    await pool.map([{ x: 0 }, { x: 1 }]) // both nodes have the pool: they hear its updates
    const rogue = await hostilePeer(head.peerId)
    try {
      // Joins as a node, then claims results for jobs leased to the others.
      const work = await rogue.dialProtocol(multiaddr(head.address), WORK_PROTOCOL)
      const send = (message: object): void => {
        const body = encodeFrame(message)
        work.send(Buffer.concat([varint(body.byteLength), body]))
      }
      send({ type: 'hello', name: 'rogue', slots: 1 })
      const running = pool.map(Array.from({ length: 6 }, (_, x) => ({ x, delayMs: 400 })))
      await head.waitForLine(/joined with 1 slot$/)
      const forged = encodeValue({ x: 0, y: -1, node: 'rogue', updates: [] })
      for (let round = 0; round < 20; round++) {
        const results = []
        for (let jobId = 1; jobId <= 12; jobId++) {
          for (let leaseId = 1; leaseId <= 12; leaseId++) results.push({ jobId, leaseId, ok: true, value: forged })
        }
        send({ type: 'results', results })
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      // And publishes an update as if it were the head.
      await fuzzGossip(rogue, 20, seeded(1))
      const out = (await running) as Array<{ x: number; y: number; node: string; updates: unknown[] }>
      expect(out.map((r) => r.y)).toEqual([0, 2, 4, 6, 8, 10])
      expect(out.every((r) => r.node !== 'rogue' && r.updates.length === 0)).toBe(true)
      await head.waitForLine(/ignored a result from node \S+ for job \d+, which is leased to \S+/)
      await Promise.any(honest.map((node) => node.waitForLine(/ignored an update published by \S+: only the head/)))
      expect(await pool.map([{ x: 4 }])).toEqual([expect.objectContaining({ y: 8, updates: [] })])
    } finally {
      await rogue.stop()
    }
  })
})

describe('bounds', () => {
  it("a client holds back jobs past the head's --max-open-jobs (backpressure), and the head refuses one that does not", async () => {
    const head = await startHead({ slots: 2, args: ['--max-open-jobs', '50'] })
    const address = head.address
    await using pool = await createPool({ worker: WORKER, head: address, password: PASSWORD, output: 'ignore' })
    // 400 jobs at once from one client: it keeps all but 50 to itself until results come back.
    const params = Array.from({ length: 400 }, (_, x) => ({ x, delayMs: 1 }))
    const submitted = await Promise.all(params.map((p) => pool.submit(p)))
    expect((submitted as Array<{ y: number }>).map((r) => r.y)).toEqual(params.map((p) => p.x * 2))

    // A client that ignores the limit it was told is refused, and the head carries on.
    const rogue = await hostilePeer(head.peerId)
    try {
      const stream = await rogue.dialProtocol(multiaddr(address), CLIENT_PROTOCOL)
      const frames = [
        { type: 'open', worker: WORKER.pathname, init: encodeValue(undefined), settings: {} },
        { type: 'submit', jobs: Array.from({ length: 60 }, (_, id) => ({ id, params: encodeValue({ x: id }) })) },
      ]
      for (const message of frames) {
        const body = encodeFrame(message)
        stream.send(Buffer.concat([varint(body.byteLength), body]))
      }
      await head.waitForLine(/refused a client of pool \d+: 60 open jobs is over this head's limit of 50 per client/)
    } finally {
      await rogue.stop()
    }
    expect(((await pool.map([{ x: 2 }])) as Array<{ y: number }>)[0]?.y).toBe(4)
  })
})

describe('the join token', () => {
  it('a head given no secret makes one, keeps it across a restart, and prints it in its join line; nodes and clients join with it, no slot sees it', async () => {
    const noPassword = { MESHPOOL_PASSWORD: '' }
    const keyFile = join(tempDir(), 'head.key')
    const port = await freePort()
    const head = await startHead({ slots: 1, keyFile, port, env: noPassword })
    const token = /^\s*MESHPOOL_TOKEN=(mpk1_[A-Za-z0-9_-]{43}) meshpool join \/ip4\//m.exec(head.output())?.[1]
    // The join line prints the token the head keeps beside its key file.
    expect(token, head.output()).toBe(readFileSync(join(dirname(keyFile), 'pool.token'), 'utf8').trim())
    expect(statSync(join(dirname(keyFile), 'pool.token')).mode & 0o777).toBe(0o600)
    const node = await joinNode(head.address, 1, { ...noPassword, MESHPOOL_TOKEN: token })
    {
      await using pool = await createPool({ worker: WORKER, head: head.address, token, output: 'ignore' })
      const seen = (await pool.map([{ env: true }, { env: true }, { env: true }])) as Array<object>
      for (const env of seen) expect(env).toEqual({ password: null, keyFile: null, token: null })
      expect(await pool.nodesCount()).toBe(2)
    }
    expect(node.output()).not.toContain(token)
    // A wrong token, and the password of another mesh, are refused at the handshake.
    const wrong = meshpool(['status', head.address], { ...noPassword, MESHPOOL_TOKEN: `mpk1_${'A'.repeat(43)}` })
    expect(await wrong.exited).toBe(1)
    expect(wrong.output()).toMatch(/refused the handshake/)
    // The same token after a restart: what was joined once joins again.
    head.child.kill('SIGTERM')
    await head.exited
    const again = await startHead({ slots: 1, keyFile, port, env: noPassword })
    expect(again.output()).toContain(`MESHPOOL_TOKEN=${token} meshpool join`)
  })
})

describe('the password', () => {
  it('is in no slot’s environment and in no log line, even with DEBUG=meshpool:*', async () => {
    const debug = { DEBUG: 'meshpool:*' }
    const head = await startHead({ slots: 1, env: debug })
    const address = head.address
    const node = await joinNode(address, 1, { ...debug, MESHPOOL_POOL_KEY_FILE: '' })
    await using pool = await createPool({ worker: WORKER, head: address, password: PASSWORD, output: 'ignore' })
    const seen = (await pool.map([{ env: true }, { env: true }, { env: true }, { env: true }])) as Array<object>
    for (const env of seen) expect(env).toEqual({ password: null, keyFile: null, token: null })
    await pool.updateWorkers({ i: 1 })
    for (const proc of [head, node]) expect(proc.output()).not.toContain(PASSWORD)
  })
})

describe('the addresses a node gives for itself', () => {
  it('reach the mesh only when they are on the IP its connection came from', async () => {
    const head = await startHead({ noWork: true })
    const rogue = await hostilePeer(head.peerId)
    try {
      const work = await rogue.dialProtocol(multiaddr(head.address), WORK_PROTOCOL)
      const body = encodeFrame({
        type: 'hello',
        name: 'pointer',
        slots: 1,
        addrs: ['/ip4/10.9.8.7/tcp/22', '/ip4/127.0.0.1/tcp/4001', '/dns4/victim.example/tcp/80'],
      })
      work.send(Buffer.concat([varint(body.byteLength), body]))
      await head.waitForLine(/pointer .*joined with 1 slot$/)
      const status = meshpool(['status', head.address, '--json'])
      expect(await status.exited, status.output()).toBe(0)
      const nodes = (JSON.parse(status.output()) as { nodes: Array<{ name: string; addrs: string[] }> }).nodes
      expect(nodes.find((n) => n.name === 'pointer')?.addrs).toEqual(['/ip4/127.0.0.1/tcp/4001'])
    } finally {
      await rogue.stop()
    }
  })
})

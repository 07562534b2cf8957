import { appendFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createPool, newIdentity } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { freePort, joinNode, meshpool, PASSWORD, startHead, stopAll, tempDir, WORKER } from './harness.js'

afterEach(stopAll)

/** A head with its key file in a folder of its own: its admin.key is written beside it. */
async function headWithKey(options: { port?: number; args?: string[] } = {}) {
  const keyFile = join(tempDir(), 'head.key')
  const head = await startHead({ noWork: true, keyFile, ...options })
  return { head, keyFile, adminKeyFile: join(dirname(keyFile), 'admin.key') }
}

const squares = (n: number) => Array.from({ length: n }, (_, x) => ({ x }))
const ys = (results: unknown) => (results as Array<{ y: number }>).map((r) => r.y)

describe("revoking the head's own peer id", () => {
  it('is refused (exit 1, saying why); every node stays and a map completes', async () => {
    const { head, adminKeyFile } = await headWithKey()
    const nodes = [await joinNode(head.address, 1), await joinNode(head.address, 1)]
    const revoke = meshpool(['revoke', head.peerId, '--head', head.address, '--admin-key', adminKeyFile])
    expect(await revoke.exited).toBe(1)
    expect(revoke.output()).toMatch(/is this head's own peer id: revoking it would cut every node off/)
    await head.waitForLine(/refused to revoke \S+: \S+ is this head's own peer id/)
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    expect(ys(await pool.map(squares(8)))).toEqual(squares(8).map(({ x }) => x * 2))
    expect(await pool.nodesCount()).toBe(2)
    for (const node of nodes) expect(node.child.exitCode).toBeNull()
  })

  it('in a revoked.json an older version wrote, is ignored with a line: nodes join and maps complete', async () => {
    const port = await freePort()
    const first = await headWithKey({ port })
    first.head.child.kill('SIGTERM')
    await first.head.exited
    writeFileSync(join(dirname(first.keyFile), 'revoked.json'), JSON.stringify([first.head.peerId]))
    const head = await startHead({ noWork: true, keyFile: first.keyFile, port })
    expect(head.output()).toContain(`ignored the head's own peer id ${head.peerId}`)
    const node = await joinNode(head.address, 1)
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    expect(ys(await pool.map(squares(6)))).toEqual(squares(6).map(({ x }) => x * 2))
    expect(node.child.exitCode).toBeNull()
    expect(node.output()).not.toMatch(/revoked/)
  })
})

describe('the admin key', () => {
  it('the head writes it (mode 0600); revoke and stop without it, or with another head’s, are refused; with it they work', async () => {
    const { head, adminKeyFile } = await headWithKey()
    expect(statSync(adminKeyFile).mode & 0o777).toBe(0o600)
    expect(head.output()).toContain(`revoke and stop nodes with its admin key: --admin-key ${adminKeyFile}`)
    const other = await headWithKey()
    const [a, b] = [await joinNode(head.address, 1), await joinNode(head.address, 1)]

    // A member with the password alone: refused, and told what to give.
    await using member = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    const revokeError = (await member.revoke(a.peerId).catch((err: Error) => err)) as Error
    expect(revokeError.name).toBe('AdminRefusedError')
    expect(revokeError.message).toMatch(/revoke and stop need the head's admin key: give the admin.key file/)
    const stopError = (await member.stopWorkers(a.peerId).catch((err: Error) => err)) as Error
    expect(stopError.name).toBe('AdminRefusedError')
    const wrongRevoke = meshpool(['revoke', a.peerId, '--head', head.address, '--admin-key', other.adminKeyFile])
    expect(await wrongRevoke.exited).toBe(1)
    expect(wrongRevoke.output()).toMatch(/that admin key is not this head's/)
    const wrongStop = meshpool(['stop', head.address, a.peerId, '--admin-key', other.adminKeyFile])
    expect(await wrongStop.exited).toBe(1)
    expect(wrongStop.output()).toMatch(/that admin key is not this head's/)
    // Status stays open to every member, and nothing happened to the nodes.
    const status = meshpool(['status', head.address, '--json'])
    expect(await status.exited).toBe(0)
    expect(JSON.parse(status.output()).nodes).toHaveLength(2)
    expect(ys(await member.map(squares(4)))).toEqual([0, 2, 4, 6])

    // With the key: a pool given adminKeyFile stops a node; the CLI revokes the other.
    await using admin = await createPool({
      worker: WORKER,
      head: head.address,
      password: PASSWORD,
      output: 'ignore',
      adminKeyFile,
    })
    expect(await admin.stopWorkers(a.peerId)).toEqual([a.peerId])
    expect(await a.exited).toBe(0)
    const revoke = meshpool(['revoke', b.peerId, '--head', head.address, '--admin-key', adminKeyFile])
    expect(await revoke.exited).toBe(0)
    expect(await b.exited).toBe(1)
  })

  it('stopWorkers() stops the nodes this pool launched without one', async () => {
    const { head } = await headWithKey()
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    const launched = await pool.launchWorkers({ n: 2, cpu: 1 })
    expect(ys(await pool.map(squares(4)))).toEqual([0, 2, 4, 6])
    expect((await pool.stopWorkers()).sort()).toEqual(launched.map((w) => w.nodeId).sort())
    expect(await Promise.all(launched.map((w) => w.exited))).toEqual([0, 0])
    expect(await pool.nodesCount()).toBe(0)
  })
})

describe('--allow-peers and clients', () => {
  it('refuses a client whose peer id is not listed, with a clear error; a listed one (by its identity file) works', async () => {
    const dir = tempDir()
    const node = await newIdentity()
    const client = await newIdentity()
    const nodeDir = tempDir()
    writeFileSync(join(nodeDir, 'node.key'), node.keyFile, { mode: 0o600 })
    const identityFile = join(dir, 'client.key')
    writeFileSync(identityFile, client.keyFile, { mode: 0o600 })
    const allow = join(dir, 'allow.txt')
    writeFileSync(allow, `${node.peerId}\n`)
    const port = await freePort()
    const keyFile = join(dir, 'head.key')
    let head = await startHead({ noWork: true, port, keyFile, args: ['--allow-peers', allow] })
    await joinNode(head.address, 1, { MESHPOOL_STATE_DIR: nodeDir })

    // The node is listed; a client with the password and a peer id of its own is not.
    const refused = (await createPool({
      worker: WORKER,
      head: head.address,
      password: PASSWORD,
      output: 'ignore',
      identityFile,
    }).catch((err: Error) => err)) as Error
    expect(refused.name).toBe('NodeRefusedError')
    expect(refused.message).toContain(`client ${client.peerId} is not in the head's --allow-peers list`)
    const anonymous = meshpool(['status', head.address], { MESHPOOL_CLIENT_KEY_FILE: join(tempDir(), 'client.key') })
    expect(await anonymous.exited).toBe(1)
    expect(anonymous.output()).toMatch(/client \S+ is not in the head's --allow-peers list; add its peer id there/)
    await head.waitForLine(/refused \S+ at the handshake: it is not in the head's --allow-peers list/)

    appendFileSync(allow, `${client.peerId}\n`)
    head.child.kill('SIGTERM')
    await head.exited
    head = await startHead({ noWork: true, port, keyFile, args: ['--allow-peers', allow] })
    await head.waitForLine(/joined with 1 slot$/) // the node comes back by itself
    await using pool = await createPool({
      worker: WORKER,
      head: head.address,
      password: PASSWORD,
      output: 'ignore',
      identityFile,
    })
    expect(ys(await pool.map(squares(3)))).toEqual([0, 2, 4])
    // The same identity from the CLI, while the pool is open.
    const status = meshpool(['status', head.address, '--json'], { MESHPOOL_CLIENT_KEY_FILE: identityFile })
    expect(await status.exited).toBe(0)
    expect(JSON.parse(status.output()).nodes.map((n: { nodeId: string }) => n.nodeId)).toEqual([node.peerId])
  })
})

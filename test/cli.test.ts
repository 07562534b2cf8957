import { createServer } from 'node:net'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { freePort, joinNode, meshpool, PASSWORD, startHead, stopAll, tempDir, WORKER } from './harness.js'

afterEach(stopAll)

async function timedJoin(address: string, env: NodeJS.ProcessEnv = {}) {
  const started = Date.now()
  const proc = meshpool(['join', address, '--slots', '1'], env)
  const code = await proc.exited
  return { code, ms: Date.now() - started, output: proc.output() }
}

describe('meshpool join refuses clearly', () => {
  it('exits within 3 s on a wrong password while the head keeps serving the right one', async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 2)
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
    const map = pool.map(Array.from({ length: 500 }, (_, x) => ({ x, delayMs: 2 })))
    const wrong = []
    for (let i = 0; i < 4; i++) wrong.push(await timedJoin(head.address, { MESHPOOL_PASSWORD: 'not-the-password' }))
    for (const attempt of wrong) {
      expect(attempt.code).toBe(1)
      expect(attempt.ms).toBeLessThan(3000)
      expect(attempt.output).toMatch(/refused the handshake/)
      expect(attempt.output).toMatch(/password/)
      expect(attempt.output).not.toMatch(/not-the-password/)
    }
    const results = (await map) as Array<{ x: number }>
    expect(results.map((r) => r.x)).toEqual(Array.from({ length: 500 }, (_, x) => x))
    expect(await pool.nodesCount()).toBe(1)
  })

  it('says when nothing listens at the address', async () => {
    const port = await freePort()
    const attempt = await timedJoin(
      `/ip4/127.0.0.1/tcp/${port}/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN`,
    )
    expect(attempt.code).toBe(1)
    expect(attempt.output).toMatch(/can't reach the head/)
    expect(attempt.ms).toBeLessThan(3000)
  })

  it('says when the address is not a meshpool head', async () => {
    const server = createServer((socket) => socket.on('error', () => {}))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    try {
      const attempt = await timedJoin(
        `/ip4/127.0.0.1/tcp/${port}/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN`,
      )
      expect(attempt.code).toBe(1)
      expect(attempt.output).toMatch(/not a meshpool head/)
    } finally {
      server.close()
    }
  })

  it('says when the head has another identity than the address names', async () => {
    const head = await startHead({ noWork: true })
    const attempt = await timedJoin(
      head.address.replace(/p2p\/\S+/, 'p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'),
    )
    expect(attempt.code).toBe(1)
    expect(attempt.output).toMatch(/has another identity than the address's \/p2p\/ part/)
  })

  it('rejects a malformed address, a missing password and a malformed listen address with usage errors', async () => {
    const bad = meshpool(['join', 'not-an-address'])
    expect(await bad.exited).toBe(2)
    expect(bad.output()).toMatch(/not a multiaddr/)
    const noPassword = meshpool(
      ['join', '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'],
      {
        MESHPOOL_PASSWORD: '',
      },
    )
    expect(await noPassword.exited).toBe(2)
    expect(noPassword.output()).toMatch(/MESHPOOL_PASSWORD/)
    const badSlots = meshpool(['head', '--slots', 'many'])
    expect(await badSlots.exited).toBe(2)
    expect(badSlots.output()).toMatch(/--slots takes a whole number/)
    const badListen = meshpool([
      'join',
      '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN',
      '--listen',
      '0.0.0.0:9000',
    ])
    expect(await badListen.exited).toBe(2)
    expect(badListen.output()).toMatch(
      /listen address "0\.0\.0\.0:9000" is not a TCP multiaddr.*\/ip4\/0\.0\.0\.0\/tcp\/0/,
    )
  })

  it('prints help for every command, with one default per option', async () => {
    const commands = ['head', 'join', 'run', 'status', 'stop', 'keygen', 'revoke', 'slurm', 'k8s']
    for (const args of [['--help'], ...commands.map((command) => [command, '--help'])]) {
      const help = meshpool(args)
      expect(await help.exited).toBe(0)
      expect(help.output()).toMatch(/Usage: meshpool/)
      // Each option's entry starts on a line of its own ("  --port <port>  …"); wrapped lines follow it.
      for (const entry of help.output().split(/\n(?= {2}-)/)) {
        expect((entry.match(/\(default/g) ?? []).length, `${args.join(' ')}: ${entry}`).toBeLessThanOrEqual(1)
      }
    }
  })

  it('names a mistyped option before a missing required one', async () => {
    const typo = meshpool(['run', './worker.js', '--inptu', 'params.jsonl'])
    expect(await typo.exited).toBe(2)
    expect(typo.output()).toMatch(/unknown option '--inptu'/)
    expect(typo.output()).toMatch(/Did you mean --input\?/)
    expect(typo.output()).not.toMatch(/required option/)
    const missing = meshpool(['run', './worker.js'])
    expect(await missing.exited).toBe(2)
    expect(missing.output()).toMatch(/required option '--input <file>' not specified/)
  })
})

describe('meshpool head', () => {
  it('keeps its join address across a restart with the same key file', async () => {
    const keyFile = `${tempDir()}/head.key`
    const port = await freePort()
    const first = await startHead({ keyFile, port })
    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    const second = await startHead({ keyFile, port })
    expect(second.address).toBe(first.address)
  })

  it('runs jobs on its own local slots and stops cleanly on SIGINT', async () => {
    const head = await startHead({ slots: 2 })
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD })
    expect(await pool.workersCount()).toBe(2)
    expect(await pool.nodesCount()).toBe(1)
    const results = (await pool.map([{ x: 1 }, { x: 2 }])) as Array<{ y: number }>
    expect(results.map((r) => r.y)).toEqual([2, 4])
    head.child.kill('SIGINT')
    expect(await head.exited).toBe(0)
  })
})

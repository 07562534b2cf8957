import { existsSync, readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createPool, type NodeInfo } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { freePort, joinNode, meshpool, PASSWORD, startHead, stopAll, tempDir, WORKER, waitFor } from './harness.js'

afterEach(stopAll)

describe('meshpool status', () => {
  it('shows every node with its slots and counts while a map runs; --json parses', async () => {
    const head = await startHead({ noWork: true })
    const [a, b] = [await joinNode(head.address, 2), await joinNode(head.address, 1)]
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    const running = pool.map(Array.from({ length: 60 }, (_, x) => ({ x, delayMs: 150 })))
    // Heartbeats carry the slots' states: ask until one shows a busy slot.
    let status: { nodes: NodeInfo[]; queued: number; leased: number } = { nodes: [], queued: 0, leased: 0 }
    const busy = (): boolean => status.nodes.some((n) => n.slots.some((s) => s.state === 'busy'))
    await waitFor(
      async () => {
        const proc = meshpool(['status', head.address, '--json'])
        expect(await proc.exited).toBe(0)
        status = JSON.parse(proc.output())
        return busy()
      },
      20_000,
      'meshpool status to show a busy slot',
      () => JSON.stringify(status),
    )
    expect(busy(), JSON.stringify(status)).toBe(true)
    expect(status.nodes.map((n) => n.nodeId).sort()).toEqual([a?.peerId, b?.peerId].sort())
    expect(status.nodes.find((n) => n.nodeId === a?.peerId)?.slots).toHaveLength(2)
    expect(status.queued + status.leased).toBeGreaterThan(0)
    expect(Date.now() - Math.min(...status.nodes.map((n) => n.lastHeartbeat))).toBeLessThan(10_000)

    const table = meshpool(['status', head.address])
    expect(await table.exited).toBe(0)
    expect(table.output()).toMatch(/^2 node\(s\), 3 slot\(s\) \(\d busy\); jobs: \d+ queued, \d+ running$/m)
    expect(table.output()).toMatch(/NODE\s+NAME\s+SLOTS\s+DONE\s+FAILED\s+HEARTBEAT\s+ADDRESS/)
    for (const node of [a, b]) expect(table.output()).toContain(node?.peerId)
    await running
    const after = await pool.listWorkers()
    expect(after.reduce((n, node) => n + node.done, 0)).toBeGreaterThanOrEqual(60)
    expect(after.every((node) => node.launched === false)).toBe(true)
  })
})

describe('stopping a node', () => {
  it('stopWorkers(id) lets it finish its running jobs and leave while a map runs; the map completes', async () => {
    const keyFile = join(tempDir(), 'head.key')
    const head = await startHead({ noWork: true, keyFile })
    const adminKeyFile = join(dirname(keyFile), 'admin.key')
    const [a, b] = [await joinNode(head.address, 1), await joinNode(head.address, 1)]
    await using pool = await createPool({
      worker: WORKER,
      head: head.address,
      password: PASSWORD,
      output: 'ignore',
      adminKeyFile,
    })
    const running = pool.map(Array.from({ length: 40 }, (_, x) => ({ x, delayMs: 50 })))
    await waitFor(() => (a?.output() ?? '').length > 0, 5000, 'node a')
    expect(await pool.stopWorkers(a?.peerId as string)).toEqual([a?.peerId])
    expect(await a?.exited).toBe(0)
    expect(a?.output()).toMatch(/the head asked this node to stop: left the mesh/)
    const results = (await running) as Array<{ y: number }>
    expect(results.map((r) => r.y)).toEqual(Array.from({ length: 40 }, (_, x) => x * 2))
    expect((await pool.listWorkers()).map((n) => n.nodeId)).toEqual([b?.peerId])

    const cli = meshpool(['stop', head.address, b?.peerId as string, a?.peerId as string, '--admin-key', adminKeyFile])
    expect(await cli.exited).toBe(1)
    expect(cli.output()).toContain(`stopping ${b?.peerId}`)
    expect(cli.output()).toContain(`${a?.peerId} is not a node of this mesh`)
    expect(await b?.exited).toBe(0)
  })
})

describe('telling nodes apart', () => {
  it('nodes without --name differ by their peer id; stop takes a unique name; a job error names its node', async () => {
    const keyFile = join(tempDir(), 'head.key')
    const head = await startHead({ noWork: true, keyFile })
    const admin = ['--admin-key', join(dirname(keyFile), 'admin.key')]
    const [a, b] = [await joinNode(head.address, 1), await joinNode(head.address, 1)]
    const twins = [] as Array<ReturnType<typeof meshpool>>
    for (let i = 0; i < 2; i++) {
      const twin = meshpool(['join', head.address, '--slots', '1', '--name', 'twin'])
      await twin.waitForLine(/^ready$/)
      twins.push(twin)
    }
    const status = meshpool(['status', head.address, '--json'])
    expect(await status.exited).toBe(0)
    const nodes = (JSON.parse(status.output()) as { nodes: NodeInfo[] }).nodes
    const nameOf = (id: string | undefined) => nodes.find((n) => n.nodeId === id)?.name
    for (const node of [a, b]) expect(nameOf(node?.peerId)).toBe(`${hostname()}-${node?.peerId.slice(8, 14)}`)
    expect(nameOf(a?.peerId)).not.toBe(nameOf(b?.peerId))
    expect(head.output()).toMatch(new RegExp(`node ${nameOf(a?.peerId)} \\(${a?.peerId}\\) joined with 1 slot$`, 'm'))

    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    const error = (await pool.submit({ x: 1, throw: 'boom' }).catch((err: Error) => err)) as Error
    expect(error.name).toBe('RemoteJobError')
    const where = nodes.find((n) => error.message.includes(n.nodeId))
    expect(error.message).toBe(`TypeError: boom (on ${where?.name}, peer ${where?.nodeId})`)

    const ambiguous = meshpool(['stop', head.address, 'twin', ...admin])
    expect(await ambiguous.exited).toBe(2)
    expect(ambiguous.output()).toMatch(/2 nodes are called twin: 12D3KooW\S+, 12D3KooW\S+\. Give the peer id/)
    const nobody = meshpool(['stop', head.address, 'nobody', ...admin])
    expect(await nobody.exited).toBe(1)
    expect(nobody.output()).toMatch(/nobody is not a node of this mesh/)
    const byName = meshpool(['stop', head.address, nameOf(a?.peerId) as string, ...admin])
    expect(await byName.exited).toBe(0)
    expect(byName.output()).toContain(`stopping ${nameOf(a?.peerId)} (${a?.peerId})`)
    expect(await a?.exited).toBe(0)
    expect(twins.every((twin) => twin.child.exitCode === null)).toBe(true)
  })
})

describe('launchWorkers', () => {
  it('brings n nodes that listWorkers shows as launched; stopWorkers(id) removes one during a map; close ends the rest', async () => {
    const head = await startHead({ noWork: true })
    const pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    const launched = await pool.launchWorkers({ n: 3, cpu: 1, memory: 256 })
    expect(launched.map((w) => w.kind)).toEqual(['node', 'node', 'node'])
    const listed = await pool.listWorkers()
    expect(listed.map((n) => n.nodeId).sort()).toEqual(launched.map((w) => w.nodeId).sort())
    expect(listed.every((n) => n.launched && n.slots.length === 1)).toBe(true)

    const running = pool.map(Array.from({ length: 30 }, (_, x) => ({ x, delayMs: 60 })))
    const gone = launched[0] as (typeof launched)[number]
    expect(await pool.stopWorkers(gone.nodeId as string)).toEqual([gone.nodeId])
    expect(await gone.exited).toBe(0)
    expect(((await running) as Array<{ y: number }>).map((r) => r.y)).toEqual(
      Array.from({ length: 30 }, (_, x) => x * 2),
    )
    expect(await pool.nodesCount()).toBe(2)

    await pool.close()
    expect(await Promise.all(launched.slice(1).map((w) => w.exited))).toEqual([0, 0])
  })

  it('with script, runs that program with MESHPOOL_HEAD and MESHPOOL_HEAD_IP, and it can join with them', async () => {
    const head = await startHead({ noWork: true })
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    const out = join(tempDir(), 'launched.json')
    const script = fileURLToPath(new URL('./fixtures/launched-script.mjs', import.meta.url))
    const [program] = await pool.launchWorkers({ n: 1, script, env: { LAUNCH_OUT: out } })
    expect(program?.kind).toBe('program')
    await waitFor(() => existsSync(out), 20_000, 'the script to write what it was given')
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({ head: head.address, ip: '127.0.0.1' })
    for (let i = 0; i < 200 && (await pool.nodesCount()) < 1; i++) await new Promise((r) => setTimeout(r, 100))
    expect((await pool.listWorkers()).map((n) => n.name)).toEqual(['from-script'])
    expect(((await pool.map([{ x: 4 }])) as Array<{ y: number }>)[0]?.y).toBe(8)
  })

  it('needs a pool with a head, and says which option is wrong', async () => {
    await using local = await createPool({ worker: WORKER, slots: 1 })
    await expect(local.launchWorkers({ n: 1 })).rejects.toThrow(/needs a pool with a head/)
    const head = await startHead({ noWork: true })
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    await expect(pool.launchWorkers({ n: 0 })).rejects.toThrow(/n must be a positive integer/)
    await expect(pool.launchWorkers({ n: 1, script: '/nope.js' })).rejects.toThrow(/no file at \/nope\.js/)
    await expect(pool.launchWorkers({ n: 1, script: 'a.js', code: 'x' })).rejects.toThrow(/script or code, not both/)
    await expect(pool.launchWorkers({ n: 1, listen: '0.0.0.0:9000' })).rejects.toThrow(/not a TCP multiaddr/)
  })

  it('starts nodes that listen where the head is: on 127.0.0.1 for a head there, or on the listen option', async () => {
    const head = await startHead({ noWork: true })
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    const port = await freePort()
    const [loopback, chosen] = await Promise.all([
      pool.launchWorkers({ n: 1 }),
      pool.launchWorkers({ n: 1, listen: `/ip4/127.0.0.1/tcp/${port}` }),
    ])
    const addrsOf = async (id: string | undefined) =>
      (await pool.listWorkers()).find((n) => n.nodeId === id)?.addrs ?? []
    const loopbackAddrs = await addrsOf(loopback[0]?.nodeId)
    expect(loopbackAddrs.length).toBeGreaterThan(0)
    expect(
      loopbackAddrs.every((addr) => addr.startsWith('/ip4/127.0.0.1/tcp/')),
      loopbackAddrs.join(' '),
    ).toBe(true)
    expect(await addrsOf(chosen[0]?.nodeId)).toEqual([`/ip4/127.0.0.1/tcp/${port}/p2p/${chosen[0]?.nodeId}`])
  })
})

/** Parses Prometheus text: every line a comment or `name{labels} value`, or the test fails. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line)
    expect(match, `not Prometheus text: ${line}`).not.toBeNull()
    samples.set(match?.[1] as string, Number(match?.[2]))
  }
  return samples
}

describe('metrics', () => {
  it('/metrics parses as Prometheus text and its counters move during a map', async () => {
    const head = await startHead({ noWork: true, args: ['--metrics-port', '0'] })
    const url = /metrics at (http:\S+)/.exec(head.output())?.[1] as string
    await joinNode(head.address, 2)
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    const scrape = async () => {
      const res = await fetch(url)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
      return parsePrometheus(await res.text())
    }
    const before = await scrape()
    expect(before.get('meshpool_nodes')).toBe(1)
    const running = pool.map(Array.from({ length: 200 }, (_, x) => ({ x, delayMs: 5 })))
    let during = await scrape()
    for (let i = 0; i < 100 && (during.get('meshpool_jobs_done_total') ?? 0) === 0; i++) during = await scrape()
    await running
    await pool.map([{ x: 1, throw: 'on purpose' }]).catch(() => {})
    const after = await scrape()
    expect(after.get('meshpool_jobs_done_total')).toBe(200)
    expect(after.get('meshpool_jobs_failed_total')).toBe(1)
    expect(after.get('meshpool_job_attempts_total')).toBeGreaterThanOrEqual(201)
    expect(after.get('meshpool_job_seconds_count{outcome="done"}')).toBe(200)
    expect(after.get('meshpool_job_seconds_count{outcome="failed"}')).toBe(1)
    expect(after.get('meshpool_jobs{state="queued"}')).toBe(0)
    expect((after.get('meshpool_slots{state="idle"}') ?? 0) + (after.get('meshpool_slots{state="busy"}') ?? 0)).toBe(2)
    expect(after.get('meshpool_bytes_total{direction="in"}')).toBeGreaterThan(
      before.get('meshpool_bytes_total{direction="in"}') ?? 0,
    )
    expect(after.has('meshpool_leases_expired_total')).toBe(true)
    // A head's pool ids start at a random number (a node may still know pools of a head before it).
    expect([...after.keys()].filter((key) => /^meshpool_update_log_bytes\{pool="\d+"\}$/.test(key))).toHaveLength(1)
  })
})

import { connect, type Socket } from 'node:net'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { joinNode, meshpool, PASSWORD, startHead, stopAll, WORKER } from './harness.js'

const sockets: Socket[] = []
let trickling = false

afterEach(async () => {
  trickling = false
  for (const socket of sockets.splice(0)) socket.destroy()
  await stopAll()
})

/** Opens `n` TCP connections to the port and sends nothing on them. */
async function idleSockets(port: number, n: number): Promise<Socket[]> {
  const opened = Array.from(
    { length: n },
    () =>
      new Promise<Socket>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port })
        socket.on('error', () => {}) // the head may drop it: that is the point
        socket.once('connect', () => resolve(socket))
        socket.once('close', () => resolve(socket))
        sockets.push(socket)
      }),
  )
  return Promise.all(opened)
}

/** One connection that sends a byte a second, opened again whenever the head drops it. */
function trickle(port: number): void {
  trickling = true
  const open = (): void => {
    if (!trickling) return
    const socket = connect({ host: '127.0.0.1', port })
    sockets.push(socket)
    const timer = setInterval(() => socket.write(Buffer.of(0x2a)), 1000)
    socket.on('error', () => {})
    socket.once('close', () => {
      clearInterval(timer)
      setTimeout(open, 50)
    })
  }
  open()
}

/** Runs `action` and returns how long it took. */
async function timed(action: () => Promise<unknown>): Promise<number> {
  const started = Date.now()
  await action()
  return Date.now() - started
}

describe('an outsider without the key', () => {
  it('holding 1,000 idle sockets and trickling bytes on another locks no member out: status, a join and a map each within 3 s', async () => {
    const head = await startHead({ noWork: true })
    const port = Number(/tcp\/(\d+)/.exec(head.address)?.[1])
    // From the members' own address, the hardest case for a per-address bound.
    await idleSockets(port, 1000)
    trickle(port)

    const statusMs = await timed(async () => {
      const status = meshpool(['status', head.address, '--json'])
      expect(await status.exited, status.output()).toBe(0)
      expect(JSON.parse(status.output())).toMatchObject({ nodes: [] })
    })
    const joinMs = await timed(() => joinNode(head.address, 2))
    const mapMs = await timed(async () => {
      await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
      const results = (await pool.map(Array.from({ length: 50 }, (_, x) => ({ x })))) as Array<{ y: number }>
      expect(results.map((r) => r.y)).toEqual(Array.from({ length: 50 }, (_, x) => 2 * x))
    })
    console.log(`under 1,000 idle sockets and a trickler: status ${statusMs} ms, join ${joinMs} ms, map ${mapMs} ms`)
    expect(statusMs).toBeLessThan(3000)
    expect(joinMs).toBeLessThan(3000)
    expect(mapMs).toBeLessThan(3000)
    // The head dropped the idle sockets it had no room for, rather than holding them all.
    expect(sockets.filter((s) => !s.destroyed).length).toBeLessThan(300)
    expect(head.child.exitCode).toBeNull()
  })
})

import { spawn } from 'node:child_process'
import { hostname } from 'node:os'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { capture, joinNode, PASSWORD, startHead, stopAll } from './harness.js'

afterEach(stopAll)

const CHATTY = new URL('./fixtures/chatty-worker.js', import.meta.url)
const OUTPUT_CLIENT = new URL('./fixtures/output-client.js', import.meta.url)

describe("workers' output", () => {
  it("reaches the client whose job prints it, prefixed with node and slot, and the node's own log", async () => {
    const head = await startHead({ noWork: true })
    const node = await joinNode(head.address, 1)
    const lines: string[] = []
    await using pool = await createPool({
      worker: CHATTY,
      head: head.address,
      password: PASSWORD,
      output: (line) => lines.push(line),
    })
    expect(await pool.map([{ x: 1 }, { x: 2 }])).toEqual([1, 2])
    // A node named by no --name is called after its host and the start of its peer id.
    const name = `${hostname()}-${node.peerId.replace(/^12D3KooW/, '').slice(0, 6)}`
    expect(/^\[([^\]/]+)\/0\] hello 1$/m.exec(node.output())?.[1]).toBe(name)
    for (const x of [1, 2]) {
      for (const text of [`hello ${x}`, `warn ${x}`, `in two pieces ${x}`]) {
        await expect.poll(() => lines).toContain(`[${name}/0] ${text}`)
        await expect.poll(() => node.output()).toContain(`[${name}/0] ${text}`)
      }
    }
  })

  it("goes to the client's stderr by default", async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 1)
    const client = capture(
      spawn(process.execPath, [new URL(OUTPUT_CLIENT).pathname, head.address], {
        env: { ...process.env, MESHPOOL_PASSWORD: PASSWORD },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    )
    expect(await client.exited).toBe(0)
    expect(client.output()).toMatch(/^\[[^\]]+\/0\] hello 2$/m)
    expect(client.output()).toMatch(/^\[[^\]]+\/0\] warn 1$/m)
  })

  it("of an embedded pool's slots is prefixed too, and 'ignore' drops it", async () => {
    const lines: string[] = []
    {
      await using pool = await createPool({ worker: CHATTY, slots: 1, output: (line) => lines.push(line) })
      await pool.submit({ x: 5 })
      await expect.poll(() => lines).toContain('[local/0] hello 5')
    }
    await using quiet = await createPool({ worker: CHATTY, slots: 1, output: 'ignore' })
    expect(await quiet.submit({ x: 6 })).toBe(6)
  })

  it('a bad output option is refused', async () => {
    await expect(createPool({ worker: CHATTY, output: 'stdout' as never })).rejects.toMatchObject({
      name: 'InvalidOptionError',
      message: expect.stringMatching(/options\.output must be 'inherit', 'ignore' or a function of a line/),
    })
  })
})

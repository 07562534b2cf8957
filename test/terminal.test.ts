import { spawn } from 'node:child_process'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { capture, meshpool, PASSWORD, startHead, stopAll } from './harness.js'

afterEach(stopAll)

const CONTROL_WORKER = new URL('./fixtures/control-worker.js', import.meta.url)
const CONTROL_CLIENT = new URL('./fixtures/control-client.js', import.meta.url)
const EVIL_NAME = 'evil\x1b]0;pwned\x07\x1b[2Jnode\r'
/** ESC, BEL, CR and the C1 CSI: none of them may reach a terminal. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters is the point
const CONTROLS = /[\x1b\x07\r\x9b]/

describe('terminal control characters from other machines', () => {
  it("never reach the client's output, the node's log, the head's log or meshpool status", async () => {
    const head = await startHead({ noWork: true })
    const node = meshpool(['join', head.address, '--slots', '1', '--name', EVIL_NAME])
    await node.waitForLine(/^ready$/)
    await head.waitForLine(/joined with 1 slot$/)

    const lines: string[] = []
    {
      await using pool = await createPool({
        worker: CONTROL_WORKER,
        head: head.address,
        password: PASSWORD,
        output: (line) => lines.push(line),
      })
      expect(await pool.map([{ x: 1 }])).toEqual([1])
      await expect.poll(() => lines).toContain('[evilnode/0] bell and C1 1')
    }
    expect(lines).toContain('[evilnode/0] title set 1')
    expect(lines).toContain('[evilnode/0] clear screen 1')
    for (const line of lines) expect(line).not.toMatch(CONTROLS)

    // The default output: this process's stderr, a terminal for most users.
    const client = capture(
      spawn(process.execPath, [new URL(CONTROL_CLIENT).pathname, head.address], {
        env: { ...process.env, MESHPOOL_PASSWORD: PASSWORD },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    )
    expect(await client.exited, client.output()).toBe(0)
    expect(client.output()).toMatch(/^\[evilnode\/0\] title set 2$/m)
    expect(client.output()).toMatch(/^\[evilnode\/0\] clear screen 2$/m)
    expect(client.output()).not.toMatch(CONTROLS)

    const status = meshpool(['status', head.address])
    expect(await status.exited, status.output()).toBe(0)
    expect(status.output()).toMatch(/ evilnode /)
    expect(status.output()).not.toMatch(CONTROLS)
    const json = meshpool(['status', head.address, '--json'])
    expect(await json.exited, json.output()).toBe(0)
    expect(json.output()).not.toMatch(CONTROLS)
    // The JSON still says what the node said, escaped.
    expect(JSON.parse(json.output()).nodes[0].name).toBe(EVIL_NAME)

    await expect.poll(() => node.output()).toMatch(/^\[evilnode\/0\] clear screen 2$/m)
    expect(node.output()).not.toMatch(CONTROLS)
    expect(head.output()).toMatch(/^node evilnode \(\S+\) joined with 1 slot$/m)
    expect(head.output()).not.toMatch(CONTROLS)
  })
})

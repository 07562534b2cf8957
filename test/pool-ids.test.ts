import { join } from 'node:path'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { joinNode, PASSWORD, startHead, stopAll, tempDir, waitFor } from './harness.js'

afterEach(stopAll)

const NAMED = new URL('./fixtures/named-worker.js', import.meta.url)

describe('pools across a head restart', () => {
  it('a client of the restarted head runs its own worker on a node that still knows a pool of the head before', async () => {
    const keyFile = join(tempDir(), 'head.key')
    const head = await startHead({ noWork: true, keyFile })
    const port = Number(/\/tcp\/(\d+)\//.exec(head.address)?.[1])
    const node = await joinNode(head.address, 1)

    // A client whose pool the node loads, and which is gone (without a word to any head) while the head is down.
    const first = await createPool({ worker: NAMED, init: { name: 'first' }, head: head.address, password: PASSWORD })
    expect((await first.map([{}, {}])).map((r) => (r as { name: string }).name)).toEqual(['first', 'first'])
    head.child.kill('SIGKILL')
    await head.exited
    await first.close()

    // The head comes back with its key file and port; the node rejoins, and another client opens the first pool there.
    const back = await startHead({ noWork: true, keyFile, port })
    await waitFor(() => /joined with 1 slot/.test(back.output()), 20_000, 'the node to rejoin', node.output)
    await using second = await createPool({
      worker: NAMED,
      init: { name: 'second' },
      head: back.address,
      password: PASSWORD,
    })
    const names = (await second.map([{}, {}, {}])).map((r) => (r as { name: string }).name)
    expect(names).toEqual(['second', 'second', 'second'])
  }, 60_000)
})

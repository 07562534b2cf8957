import { fileURLToPath } from 'node:url'
import { afterEach, expect, it } from 'vitest'
import { BIN } from './harness.js'
import { Topology } from './netns.js'

/**
 * The head, a node and a client each in a network namespace of its own, each
 * linked to the head's alone: the node can't reach the client where it
 * listens, so a job's big params and result go through the head.
 */

const CLIENT = fileURLToPath(new URL('./fixtures/big-values-client.js', import.meta.url))
const PORT = 8899

let net: Topology | undefined

afterEach(async () => {
  await net?.destroy()
  net = undefined
})

it('a node that cannot reach the client gets its big params, and hands it its big result, through the head', {
  timeout: 60_000,
}, async () => {
  net = await Topology.create(['node', 'client'])
  const topo = net
  const { address: headAddress } = await topo.startHead(PORT)
  const node = topo.run('node', [BIN, 'join', headAddress('node'), '--slots', '1'], {
    env: { DEBUG: 'meshpool:blobs*' },
  })
  await node.waitForLine(/^ready$/, 30_000)
  const client = topo.run('client', [CLIENT, headAddress('client')])
  const state = (): string => `--- node:\n${node.output()}\n--- client:\n${client.output()}`
  expect(await client.exited, state()).toBe(0)
  const seen = JSON.parse(/^\{.*\}$/m.exec(client.output())?.[0] ?? '{}') as {
    params: string
    result: string
    want: string[]
  }
  expect([seen.params, seen.result]).toEqual(seen.want)
  // The node tried the client where it listens (its namespace's address), then went through the head.
  expect(node.output(), state()).toMatch(/the client \S+ is out of reach .*: going through the head/)
  expect(node.output()).toMatch(/fetched params \w{12} \(\d+ bytes\) from the head in \d+ ms/)
  expect(node.output()).not.toMatch(/from the client in/)
  expect(topo.ip('client')).not.toBe(topo.headIp('client'))
})

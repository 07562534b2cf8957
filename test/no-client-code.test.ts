import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as module from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { joinNode, type Out, PASSWORD, startHead, stopAll, tempDir, WORKER } from './harness.js'

afterEach(stopAll)

/**
 * Loaded with --import into every process (NODE_OPTIONS reaches the slots too):
 * appends each module URL the process resolves to <MESHPOOL_TEST_URLS>/<pid>.log.
 */
const RECORD_HOOK = `
import { appendFileSync } from 'node:fs'
import { registerHooks } from 'node:module'
const log = process.env.MESHPOOL_TEST_URLS + '/' + process.pid + '.log'
registerHooks({
  resolve(specifier, context, next) {
    const resolved = next(specifier, context)
    appendFileSync(log, resolved.url + '\\n')
    return resolved
  },
})
`

/** Every URL each process recorded in `dir`, one list per process. */
function recorded(dir: string): string[][] {
  return readdirSync(dir).map((file) => readFileSync(join(dir, file), 'utf8').split('\n').filter(Boolean))
}

describe('a head and a node, with their slots', () => {
  it('load no client code and no bundler, while they run jobs', async () => {
    expect(typeof (module as { registerHooks?: unknown }).registerHooks, 'module.registerHooks (Node 22.15+)').toBe(
      'function',
    )
    const dir = tempDir()
    const hook = join(dir, 'record-hook.mjs')
    writeFileSync(hook, RECORD_HOOK)
    const recordInto = (name: string) => {
      const urls = join(dir, name)
      mkdirSync(urls)
      return { urls, env: { NODE_OPTIONS: `--import=${pathToFileURL(hook).href}`, MESHPOOL_TEST_URLS: urls } }
    }
    const atHead = recordInto('head')
    const atNode = recordInto('node')
    const head = await startHead({ slots: 1, env: atHead.env })
    const node = await joinNode(head.address, 1, atNode.env)

    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    const results = (await pool.map(Array.from({ length: 8 }, (_, x) => ({ x, delayMs: 200 })))) as Out[]
    expect(results.map((r) => r.y)).toEqual([0, 2, 4, 6, 8, 10, 12, 14])
    // Both the head's own slot and the node's slot ran jobs, so each loaded the worker.
    expect(new Set(results.map((r) => r.node)).size).toBe(2)
    expect(results.some((r) => r.node === node.peerId)).toBe(true)

    for (const [role, entry, urls] of [
      ['head', '/dist/head/start-head.js', atHead.urls],
      ['node', '/dist/node/join-head.js', atNode.urls],
    ] as const) {
      const processes = recorded(urls)
      // The hook ran: the role's process loaded its entry, and its slot the slot's main.
      expect(processes.flat(), role).toContainEqual(expect.stringMatching(`${entry}$`))
      expect(processes.flat(), role).toContainEqual(expect.stringMatching('/dist/slot/main\\.js$'))
      const clientCode = processes.flat().filter((url) => /\/dist\/client\/|esbuild/.test(url))
      expect(clientCode, `${role}: modules of the client or the bundler`).toEqual([])
    }
  })
})

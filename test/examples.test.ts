import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { joinNode, PASSWORD, startHead, stopAll } from './harness.js'

afterEach(stopAll)

function runExample(name: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string }> {
  const main = fileURLToPath(new URL(`../examples/${name}/main.js`, import.meta.url))
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.once('exit', (code) => resolve({ code, output }))
  })
}

describe('the examples run', () => {
  it('squares, with an embedded head', async () => {
    const { code, output } = await runExample('squares', { MESHPOOL_HEAD: '' })
    expect(code, output).toBe(0)
    expect(output).toMatch(/19² = 361/)
  })

  it('hyperparams, with an embedded head, sharing the best score through updates', async () => {
    const { code, output } = await runExample('hyperparams', { MESHPOOL_HEAD: '' })
    expect(code, output).toBe(0)
    expect(output).toMatch(/new best/)
    expect(output).toMatch(/^best: /m)
    // Without updates no slot would know a best, and every result would beat it.
    const beat = Number(/(\d+) of 75 results beat/.exec(output)?.[1])
    expect(beat).toBeLessThan(75)
  })

  it('both, on a real head with a joined node', async () => {
    const head = await startHead({ slots: 1 })
    const node = await joinNode(head.address, 1)
    const env = { MESHPOOL_HEAD: head.address, MESHPOOL_PASSWORD: PASSWORD }
    const squares = await runExample('squares', env)
    expect(squares.code, squares.output).toBe(0)
    expect(squares.output).toMatch(/2 slots on 2 node\(s\)/)
    const hyper = await runExample('hyperparams', env)
    expect(hyper.code, hyper.output).toBe(0)
    expect(hyper.output).toMatch(/^best: /m)
    expect(hyper.output).toMatch(/2 slot\(s\) on 2 node\(s\)/)
    expect(node.output()).not.toMatch(/Error/)
  })
})

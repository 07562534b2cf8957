// What a JavaScript caller (no TypeScript to catch a typo) meets on a real mesh: a
// misspelt option is refused naming the option meant, and a settled map outlives a
// job that throws on a remote node.
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { capture, joinNode, PASSWORD, startHead, stopAll, tempDir, WORKER } from './harness.js'

afterEach(stopAll)

const MESHPOOL = pathToFileURL(fileURLToPath(new URL('../packages/cli/dist/index.js', import.meta.url))).href

const PROGRAM = `
import { createPool } from '${MESHPOOL}'
const worker = new URL('${WORKER.href}')
const head = process.env.HEAD
const refused = (err) => console.log(\`refused: \${err.name}: \${err.message.split(' (its options')[0]}\`)
await createPool({ worker, head, maxAttempt: 5 }).then(() => console.log('accepted maxAttempt'), refused)
const pool = await createPool({ worker, head, output: 'ignore' })
try {
  await pool.map([{ x: 1 }], { timeout: 1 }).then(() => console.log('accepted timeout'), refused)
  await pool.submit({ x: 1 }, { signl: AbortSignal.timeout(1000) }).then(() => console.log('accepted signl'), refused)
  const outcomes = await pool.map([{ x: 1 }, { x: 2, throw: 'boom' }, { x: 3 }], { settle: true })
  const shown = outcomes.map((o) => (o.ok ? o.value.y : \`\${o.index}: \${o.error.name}: \${o.error.message}\`))
  console.log(\`settled: \${JSON.stringify(shown)}\`)
} finally {
  await pool.close()
}
console.log('closed')
`

describe('a JavaScript caller on a mesh', () => {
  it('is told the option it meant, and a settled map gives every outcome', { timeout: 60_000 }, async () => {
    const head = await startHead({ noWork: true })
    await joinNode(head.address, 2)
    const dir = tempDir()
    writeFileSync(join(dir, 'main.mjs'), PROGRAM)
    const proc = capture(
      spawn(process.execPath, [join(dir, 'main.mjs')], {
        cwd: dir,
        env: { ...process.env, HEAD: head.address, MESHPOOL_PASSWORD: PASSWORD },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    )
    expect(await proc.exited, proc.output()).toBe(0)
    const lines = proc.output().trim().split('\n')
    expect(lines).toEqual([
      'refused: InvalidOptionError: createPool has no option "maxAttempt": did you mean `maxAttempts`?',
      'refused: InvalidOptionError: map has no option "timeout": did you mean `timeoutMs`?',
      'refused: InvalidOptionError: submit has no option "signl": did you mean `signal`?',
      expect.stringMatching(/^settled: \[2,"1: RemoteJobError: TypeError: boom.*",6\]$/),
      'closed',
    ])
  })
})

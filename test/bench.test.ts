import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

describe('pnpm bench --quick', () => {
  it('runs every case briefly and prints every figure beside its target', async () => {
    const run = fileURLToPath(new URL('../bench/run.js', import.meta.url))
    const child = spawn(process.execPath, [run, '--quick'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    expect(code, output).toBe(0)
    for (const target of ['≥ 20,000', '< 100 ms', '< 3,000 ms', '< 5 ms', '≥ 60 %', '< 300 MB']) {
      expect(output).toContain(target)
    }
  }, 300_000)
})

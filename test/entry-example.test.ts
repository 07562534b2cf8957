// The @example at the top of each package's entry file is what an editor shows on
// hover and what a newcomer copies: it must run, as written, on Node 22 in plain
// JavaScript (which has no `await using`).
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { capture, stopAll, tempDir } from './harness.js'

afterEach(stopAll)

const ENTRIES = [
  { source: '../packages/cli/src/index.ts', name: 'meshpool', dist: '../packages/cli/dist/index.js' },
  { source: '../packages/node/src/index.ts', name: '@meshpool/node', dist: '../packages/node/dist/index.js' },
]

/** The code of the first @example block of a file's opening comment, without its ` * ` margins. */
function exampleOf(source: string): string {
  const text = readFileSync(fileURLToPath(new URL(source, import.meta.url)), 'utf8')
  const block = /@example\s*\n\s*\* ```ts\n([\s\S]*?)\n\s*\* ```/.exec(text)?.[1]
  if (block === undefined) throw new Error(`no @example in ${source}`)
  return block
    .split('\n')
    .map((line) => line.replace(/^\s*\* ?/, ''))
    .join('\n')
}

describe('the entry files’ @example', () => {
  it.each(ENTRIES)('of $name runs as plain JavaScript on this Node', { timeout: 60_000 }, async (entry) => {
    const dir = tempDir()
    const dist = pathToFileURL(fileURLToPath(new URL(entry.dist, import.meta.url))).href
    const code = exampleOf(entry.source).replace(`from '${entry.name}'`, `from '${dist}'`)
    expect(code).toContain(dist) // the example imports the package it documents
    writeFileSync(join(dir, 'main.mjs'), code)
    writeFileSync(join(dir, 'squares.js'), 'export default class Squares { run(x) { return x * x } }\n')
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n')
    const proc = capture(
      spawn(process.execPath, [join(dir, 'main.mjs')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }),
    )
    expect(await proc.exited, proc.output()).toBe(0)
    expect(proc.output()).toMatch(/\[ 1, 4, 9 \]/)
  })
})

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { codeHash } from '../src/net/code-hash.js'
import { CodeCache } from '../src/node/code-cache.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshpool-code-'))
})
afterEach(() => rm(dir, { recursive: true, force: true }))

const CODE = new TextEncoder().encode('export default class W { run() { return 1 } }\n')
const HASH = codeHash(CODE)

describe('CodeCache', () => {
  it('fetches once, then serves the file while its bytes still match', async () => {
    let fetches = 0
    const cache = new CodeCache(dir, async () => {
      fetches++
      return CODE
    })
    const file = await cache.path(HASH)
    expect(await cache.path(HASH)).toBe(file)
    expect(fetches).toBe(1)
    expect(new Uint8Array(await readFile(file))).toEqual(CODE)
  })

  it('checks again on a later load in the same process: a changed file is deleted, fetched again and said', async () => {
    let fetches = 0
    const lines: string[] = []
    const cache = new CodeCache(
      dir,
      async () => {
        fetches++
        return CODE
      },
      (line) => lines.push(line),
    )
    const file = await cache.path(HASH)
    await writeFile(file, 'process.exit(1)\n')
    expect(await cache.path(HASH)).toBe(file)
    expect(fetches).toBe(2)
    expect(new Uint8Array(await readFile(file))).toEqual(CODE)
    expect(lines).toEqual([
      `the cached code ${file} does not match its sha-256 (it changed on disk): deleted it, fetching it again`,
    ])
  })
})

import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIOME = join(ROOT, 'node_modules', '.bin', 'biome')
const RULE = 'lint/style/noRestrictedImports'

/** A file in packages/node/src, the one import it makes, and whether the import rules allow it. */
const CASES: Array<{ file: string; imports: string; allowed: boolean }> = [
  { file: 'slot/a.ts', imports: '../net/peer.js', allowed: false },
  { file: 'slot/b.ts', imports: '../node/agent.js', allowed: false },
  { file: 'slot/c.ts', imports: '@libp2p/logger', allowed: false },
  { file: 'slot/d.ts', imports: '../worker-types.js', allowed: true },
  { file: 'slot/e.ts', imports: '@meshpool/core', allowed: true },
  { file: 'slot/f.ts', imports: './output.js', allowed: true },
  { file: 'slot/g.ts', imports: 'node:fs', allowed: true },
  { file: 'head/a.ts', imports: '../client/pool.js', allowed: false },
  { file: 'head/b.ts', imports: '../slot/main.js', allowed: false },
  { file: 'head/dashboard/a.ts', imports: '../../client/pool.js', allowed: false },
  { file: 'head/c.ts', imports: '../node/agent.js', allowed: true },
  { file: 'head/d.ts', imports: '../net/peer.js', allowed: true },
  { file: 'client/a.ts', imports: '../head/head-service.js', allowed: false },
  { file: 'client/b.ts', imports: '../node/agent.js', allowed: false },
  { file: 'client/c.ts', imports: '../net/peer.js', allowed: true },
  { file: 'client/embedded.ts', imports: '../head/head-service.js', allowed: true },
  { file: 'node/a.ts', imports: '../client/pool.js', allowed: false },
  { file: 'node/b.ts', imports: '../slot/protocol.js', allowed: true },
  { file: 'net/a.ts', imports: '../client/pool.js', allowed: false },
  { file: 'net/b.ts', imports: '../head/head-service.js', allowed: false },
  { file: 'net/c.ts', imports: '../node/agent.js', allowed: false },
  { file: 'net/d.ts', imports: '../slot/main.js', allowed: false },
  { file: 'net/e.ts', imports: './psk.js', allowed: true },
]

/**
 * Lints the cases with this checkout's biome.json, in a temporary copy of the
 * folder layout (so no fixture ever lands in the real tree, where `pnpm lint`
 * would see it), and returns the files the import rule flags.
 */
async function flaggedFiles(): Promise<Map<string, string>> {
  const dir = mkdtempSync(join(tmpdir(), 'meshpool-import-rules-'))
  try {
    const config = JSON.parse(readFileSync(join(ROOT, 'biome.json'), 'utf8')) as Record<string, unknown>
    delete config.$schema
    config.vcs = { enabled: false } // the copy is no git checkout
    writeFileSync(join(dir, 'biome.json'), JSON.stringify(config))
    for (const { file, imports } of CASES) {
      const path = join(dir, 'packages/node/src', file)
      mkdirSync(dirname(path), { recursive: true })
      writeFileSync(path, `import * as m from '${imports}'\nexport const n = m\n`)
    }
    const { stdout } = await promisify(execFile)(BIOME, ['lint', '--reporter=github', '.'], { cwd: dir }).catch(
      (err: { stdout?: string; code?: number }) => {
        // biome exits 1 when it reports an error, which is what the wrong-way cases are for.
        if (err.code !== 1 || err.stdout === undefined) throw err
        return { stdout: err.stdout }
      },
    )
    const flagged = new Map<string, string>()
    for (const line of stdout.split('\n')) {
      const found = /^::error title=([^,]+),file=([^,]+),.*::(.*)$/.exec(line)
      if (found?.[1] === RULE)
        flagged.set((found[2] as string).slice(join(dir, 'packages/node/src/').length), found[3] as string)
    }
    return flagged
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe('the import rules in biome.json', () => {
  it('fail each wrong-way import, naming the rule and the folder, and pass the allowed ones', async () => {
    const flagged = await flaggedFiles()
    for (const { file, imports, allowed } of CASES) {
      const what = `${file} importing ${imports}`
      if (allowed) expect(flagged.get(file), what).toBeUndefined()
      else expect(flagged.get(file), what).toMatch(new RegExp(`^${file.split('/')[0]}/`))
    }
    expect(flagged.size).toBe(CASES.filter((c) => !c.allowed).length)
  })
})

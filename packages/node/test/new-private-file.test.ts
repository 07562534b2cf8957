import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadOrCreateAdminKey } from '../src/net/admin-key.js'
import { loadOrCreatePoolToken } from '../src/net/psk.js'

const dir = mkdtempSync(join(tmpdir(), 'meshpool-new-file-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('a secret file made the first time', () => {
  it('is never seen empty: 32 heads starting at once in one folder all get the same join token', async () => {
    const file = join(dir, 'token')
    const tokens = await Promise.all(Array.from({ length: 32 }, () => loadOrCreatePoolToken(file)))
    expect(new Set(tokens).size).toBe(1)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readdirSync(dir)).toEqual(['token'])
  })

  it('is never seen empty: 32 heads starting at once all get the same admin key', async () => {
    const file = join(dir, 'admin.key')
    const notes: string[] = []
    const keys = await Promise.all(Array.from({ length: 32 }, () => loadOrCreateAdminKey(file, (n) => notes.push(n))))
    expect(notes).toEqual([])
    expect(new Set(keys).size).toBe(1)
    expect(keys[0]).toMatch(/^mpa1_/)
  })
})

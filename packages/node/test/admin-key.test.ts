import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { adminRefusal, loadOrCreateAdminKey, readAdminKey } from '../src/net/admin-key.js'

const dir = mkdtempSync(join(tmpdir(), 'meshpool-admin-key-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('the admin key file', () => {
  it('is written once (256 random bits, mode 0600) and read back the same across restarts', async () => {
    const file = join(dir, 'admin.key')
    const key = await loadOrCreateAdminKey(file, () => {})
    expect(key).toMatch(/^mpa1_[A-Za-z0-9_-]{43}$/)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(await loadOrCreateAdminKey(file, () => {})).toBe(key)
    expect(readAdminKey(file)).toBe(key)
  })

  it('where it can not be written (a missing or read-only folder): none, and the head says why', async () => {
    const notes: string[] = []
    expect(await loadOrCreateAdminKey(join(dir, 'missing', 'admin.key'), (line) => notes.push(line))).toBeUndefined()
    expect(notes[0]).toMatch(/can't write the admin key .*: meshpool revoke and stop are refused/)
  })

  it('refuses a file others can read, or one that holds no admin key, naming the fix', () => {
    const open = join(dir, 'open.key')
    writeFileSync(open, `mpa1_${'A'.repeat(43)}\n`, { mode: 0o600 })
    chmodSync(open, 0o644)
    expect(() => readAdminKey(open)).toThrow(`run: chmod 600 ${open}`)
    const wrong = join(dir, 'wrong.key')
    writeFileSync(wrong, readFileSync(open, 'utf8').replace('mpa1_', 'mpk1_'), { mode: 0o600 })
    expect(() => readAdminKey(wrong)).toThrow(/is not a meshpool admin key .*admin\.key file the head wrote/)
  })
})

describe('adminRefusal', () => {
  const own = `mpa1_${'B'.repeat(43)}`
  it('takes the head’s own key, and refuses none, another one, or a head without one, saying what to give', () => {
    expect(adminRefusal(own, own)).toBeUndefined()
    expect(adminRefusal(own, undefined)).toMatch(/revoke and stop need the head's admin key: give the admin.key file/)
    expect(adminRefusal(own, `mpa1_${'C'.repeat(43)}`)).toMatch(/that admin key is not this head's/)
    expect(adminRefusal(undefined, own)).toMatch(/this head has no admin key/)
  })
})

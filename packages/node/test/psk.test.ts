import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkPrivateFile, derivePoolKey, startHead, writePoolKeyFile } from '@meshpool/node'
import { afterAll, describe, expect, it } from 'vitest'

// Each key costs one scrypt at N = 2^17 (by design, 0.1 to 0.3 s, and more on a busy machine):
// these tests get more than the default 5 s.
const SCRYPT_TESTS = { timeout: 30_000 }

describe('derivePoolKey', SCRYPT_TESTS, () => {
  it('derives the same 32-byte swarm key from the same password, another from another', () => {
    const text = new TextDecoder().decode(derivePoolKey('correct horse battery'))
    expect(text).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
    expect(derivePoolKey('correct horse battery')).toEqual(derivePoolKey('correct horse battery'))
    expect(derivePoolKey('correct horse battery')).not.toEqual(derivePoolKey('correct horse batterz'))
    expect(derivePoolKey('same', 'pool-a')).not.toEqual(derivePoolKey('same', 'pool-b'))
  })

  it('is slow enough to make guessing costly, and runs once per process', () => {
    const started = performance.now()
    derivePoolKey(`fresh password ${Math.random()}`)
    const first = performance.now() - started
    expect(first).toBeGreaterThan(20)
    const again = performance.now()
    derivePoolKey('correct horse battery')
    expect(performance.now() - again).toBeLessThan(5)
  })

  it('refuses an empty password with the fix', () => {
    expect(() => derivePoolKey('')).toThrow(/MESHPOOL_PASSWORD/)
  })
})

describe('pool key files', SCRYPT_TESTS, () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshpool-psk-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('keygen writes a 256-bit key, mode 0600, that gives a key of its own, and never overwrites one', async () => {
    const file = join(dir, 'pool.key')
    await writePoolKeyFile(file)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readFileSync(file, 'utf8')).toMatch(/^meshpool-pool-key-v1 [0-9a-f]{64}\n$/)
    const other = join(dir, 'other.key')
    await writePoolKeyFile(other)
    expect(readFileSync(other, 'utf8')).not.toBe(readFileSync(file, 'utf8'))
    await expect(writePoolKeyFile(file)).rejects.toThrow(/exists; keygen never overwrites/)
  })

  it('refuses a key file that others can read, with the chmod that fixes it', async () => {
    const file = join(dir, 'open.key')
    await writePoolKeyFile(file)
    chmodSync(file, 0o644)
    await expect(startHead({ poolKeyFile: file, port: 0, slots: 0, keyFile: join(dir, 'h.key') })).rejects.toThrow(
      `run: chmod 600 ${file}`,
    )
    expect(() => checkPrivateFile(file, 'pool key file')).toThrow(/can be read by other users \(mode 644\)/)
  })

  it('says what a key file should look like, and that a password and a key file are not both given', async () => {
    const file = join(dir, 'bad.key')
    writeFileSync(file, 'hunter2\n', { mode: 0o600 })
    await expect(startHead({ poolKeyFile: file, port: 0, slots: 0, keyFile: join(dir, 'h2.key') })).rejects.toThrow(
      /not a meshpool pool key .*meshpool keygen/,
    )
    const good = join(dir, 'good.key')
    await writePoolKeyFile(good)
    await expect(
      startHead({
        password: 'a long enough password',
        poolKeyFile: good,
        port: 0,
        slots: 0,
        keyFile: join(dir, 'h3.key'),
      }),
    ).rejects.toThrow(/give one pool secret/)
  })

  it('warns once about a password shorter than 12 characters', () => {
    // In a process of its own: the warning is given once per process.
    const dist = new URL('../dist/index.js', import.meta.url).href
    const script = `const m = await import(${JSON.stringify(dist)}); m.derivePoolKey('short-pw'); m.derivePoolKey('short-pw2'); m.derivePoolKey('a long enough password')`
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
    expect(run.status).toBe(0)
    const warnings = run.stderr.split('\n').filter((line) => line.includes('MeshpoolWarning'))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/has 8 characters.*12 or more.*meshpool keygen/)
  })
})

describe("the head's peer id salts the key", SCRYPT_TESTS, () => {
  it('the same password gives another key on another mesh: no dictionary serves two meshes', () => {
    const a = derivePoolKey('correct horse battery', '', '12D3KooWHeadA')
    const b = derivePoolKey('correct horse battery', '', '12D3KooWHeadB')
    expect(a).not.toEqual(b)
    expect(derivePoolKey('correct horse battery', '', '12D3KooWHeadA')).toEqual(a)
  })
})

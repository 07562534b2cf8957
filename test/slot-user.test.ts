import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { meshpool, PASSWORD, startHead, stopAll, tempDir } from './harness.js'

const PROBE = new URL('./fixtures/secrets-worker.js', import.meta.url)
const NOBODY = 65534
const NO_PASSWORD = { MESHPOOL_PASSWORD: '' }

interface Probe {
  uid: number
  env: Record<string, string | null>
  files: Record<string, string | null>
  ancestors: Array<{ pid: number; environ: string | null; cmdline: string | null }>
}

afterEach(stopAll)

/** Runs the probe on every slot of the mesh (a few jobs each) and returns what the slots got. */
async function probe(pool: { map(params: unknown[]): Promise<unknown[]> }, files: string[]): Promise<Probe[]> {
  return (await pool.map(Array.from({ length: 4 }, () => ({ files })))) as Probe[]
}

/** Nothing a slot read holds the secret. */
function expectNoSecret(seen: Probe[], secret: string): void {
  for (const got of seen) {
    expect(Object.values(got.env)).toEqual([null, null, null, null])
    expect(JSON.stringify(got)).not.toContain(secret)
  }
}

describe('--slot-user', () => {
  it("a node's slots run as that user: shipped code reads neither its state folder, the head's files, nor the node's /proc entries", async () => {
    const head = await startHead({ noWork: true, env: NO_PASSWORD })
    const token = /MESHPOOL_TOKEN=(\S+) meshpool join/.exec(head.output())?.[1] as string
    const stateDir = tempDir()
    // The token on the command line, the way a user might give it: it must not stay in /proc/<pid>/cmdline.
    const node = meshpool(['join', head.address, '--slots', '2', '--token', token, '--slot-user', 'nobody'], {
      ...NO_PASSWORD,
      MESHPOOL_STATE_DIR: stateDir,
    })
    await node.waitForLine(/^ready$/)
    await using pool = await createPool({ worker: PROBE, head: head.address, token, output: 'ignore' })
    const seen = await probe(pool, [join(stateDir, 'node.key')])
    for (const got of seen) {
      expect(got.uid).toBe(NOBODY)
      expect(Object.values(got.files)).toEqual([null])
      // The node runs as root: its environ is not for the slot user to read.
      expect(got.ancestors[0]?.environ).toBeNull()
    }
    expectNoSecret(seen, token)
  })

  it("a head's local slots run as that user: they read neither the password file, head.key nor pool.token", async () => {
    const dir = tempDir()
    const passwordFile = join(dir, 'password')
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 })
    const keyFile = join(dir, 'head.key')
    writeFileSync(join(dir, 'pool.token'), 'not the secret, but private\n', { mode: 0o600 })
    const head = await startHead({
      slots: 2,
      keyFile,
      env: NO_PASSWORD,
      args: ['--password-file', passwordFile, '--slot-user', 'nobody'],
    })
    await using pool = await createPool({ worker: PROBE, head: head.address, password: PASSWORD, output: 'ignore' })
    const seen = await probe(pool, [passwordFile, keyFile, join(dir, 'pool.token')])
    for (const got of seen) {
      expect(got.uid).toBe(NOBODY)
      expect(Object.values(got.files)).toEqual([null, null, null])
      expect(got.ancestors[0]?.environ).toBeNull()
    }
    expectNoSecret(seen, PASSWORD)
  })

  it('a node given the pool key file in MESHPOOL_POOL_KEY_FILE: its slots get neither the variable nor the key', async () => {
    const key = join(tempDir(), 'pool.key')
    expect(await meshpool(['keygen', key]).exited).toBe(0)
    const head = await startHead({ noWork: true, args: ['--pool-key', key] })
    const node = meshpool(['join', head.address, '--slots', '1', '--slot-user', 'nobody'], {
      MESHPOOL_POOL_KEY_FILE: key,
    })
    await node.waitForLine(/^ready$/)
    await using pool = await createPool({ worker: PROBE, head: head.address, poolKeyFile: key, output: 'ignore' })
    const seen = await probe(pool, [key])
    for (const got of seen) {
      expect(got.uid).toBe(NOBODY)
      expect(Object.values(got.files)).toEqual([null])
      expect(got.ancestors[0]?.environ).toBeNull()
    }
    expectNoSecret(seen, readFileSync(key, 'utf8').trim())
  })

  it('runs `meshpool run --cmd … --ship FILE` on such a node: the shipped files reach the command, which runs as that user', async () => {
    const head = await startHead({ noWork: true })
    const node = meshpool(['join', head.address, '--slots', '2', '--slot-user', 'nobody'], {}, { cwd: tempDir() })
    await node.waitForLine(/^ready$/)
    const here = tempDir()
    writeFileSync(join(here, 'w.txt'), '3\n')
    writeFileSync(join(here, 'score.sh'), 'read p\nprintf \'{"uid":%s,"w":%s}\\n\' "$(id -u)" "$(cat w.txt)"\n')
    const input = join(here, 'params.jsonl')
    writeFileSync(input, '{"x":1}\n{"x":2}\n{"x":3}\n')
    const args = [
      'run',
      '--cmd',
      'sh score.sh',
      '--input',
      input,
      '--head',
      head.address,
      '--ship',
      'score.sh',
      'w.txt',
    ]
    const run = meshpool(args, {}, { cwd: here })
    expect(await run.exited, run.output()).toBe(0)
    const results = run
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line))
    expect(results).toEqual([1, 2, 3].map(() => ({ uid: NOBODY, w: 3 })))
  })

  it('is refused, naming the fix, for a user this machine does not have', async () => {
    const node = meshpool([
      'join',
      '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN',
      '--slot-user',
      'no-such-user-here',
    ])
    expect(await node.exited).toBe(2)
    expect(node.output()).toMatch(
      /there is no user "no-such-user-here" on this machine; name an existing one \(e\.g\. nobody\)/,
    )
  })
})

describe('the secret in the environment', () => {
  it("is in no environment a slot can read, even without --slot-user: not in the node's /proc/<pid>/environ, nor the head's", async () => {
    const head = await startHead({ slots: 1, env: { MESHPOOL_WEB_TOKEN: 'web-token-kept-private' } })
    const node = meshpool(['join', head.address, '--slots', '1'])
    await node.waitForLine(/^ready$/)
    await using pool = await createPool({ worker: PROBE, head: head.address, password: PASSWORD, output: 'ignore' })
    const seen = await probe(pool, [])
    const pids = new Set([head.child.pid, node.child.pid])
    for (const got of seen) {
      expect(got.uid).toBe(process.getuid?.())
      // The probe does read its node's environ (same user): the secret just is not there any more.
      const parent = got.ancestors[0]
      expect(pids.has(parent?.pid)).toBe(true)
      expect(parent?.environ).toContain('MESHPOOL_STATE_DIR=')
    }
    expectNoSecret(seen, PASSWORD)
    expectNoSecret(seen, 'web-token-kept-private')
  })

  it('is in no environment of the nodes launchWorkers starts: they take it on a pipe', async () => {
    const head = await startHead({ noWork: true })
    await using pool = await createPool({ worker: PROBE, head: head.address, password: PASSWORD, output: 'ignore' })
    const [launched] = await pool.launchWorkers({ n: 1 })
    const seen = await probe(pool, [])
    for (const got of seen) {
      expect(got.ancestors[0]?.pid).toBe(launched?.pid)
      expect(got.ancestors[0]?.environ).toContain('MESHPOOL_HEAD=')
    }
    expectNoSecret(seen, PASSWORD)
  })
})

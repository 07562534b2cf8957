import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { acquireNodeLock, checkStateDir, defaultStateDir, releaseNodeLockSync } from '../src/node/node-lock.js'

let dir: string
let stateDir: string
let lockFile: string
const children: ChildProcess[] = []

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshpool-lock-'))
  stateDir = join(dir, 'state', 'node')
  lockFile = join(stateDir, 'node.lock')
})

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL')
  await rm(dir, { recursive: true, force: true })
})

async function writeLock(content: string): Promise<void> {
  await mkdir(stateDir, { recursive: true })
  await writeFile(lockFile, content)
}

describe('acquireNodeLock', () => {
  it('defaults the state folder to ~/.meshpool/node', () => {
    expect(defaultStateDir('/home/ada')).toBe(join('/home/ada', '.meshpool', 'node'))
  })

  it('creates the state folder and a 0600 lock holding our pid, and refuses a second take in this process', async () => {
    const lock = await acquireNodeLock(stateDir, { head: '/ip4/10.0.0.1/tcp/4001' })
    expect(lock.acquired).toBe(true)
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700)
    expect((await stat(lockFile)).mode & 0o777).toBe(0o600)
    const held = JSON.parse(await readFile(lockFile, 'utf8'))
    expect(held).toMatchObject({ pid: process.pid, head: '/ip4/10.0.0.1/tcp/4001' })
    expect(new Date(held.startedAt).toISOString()).toBe(held.startedAt)
    expect(await readdir(stateDir)).toEqual(['node.lock'])

    const again = await acquireNodeLock(stateDir, { head: 'other' })
    expect(again).toEqual({ acquired: false, holder: held })
  })

  it('refuses a lock held by a live process, and takes it over once that process is dead', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 1e6)'], { stdio: 'ignore' })
    children.push(child)
    await once(child, 'spawn')
    const pid = child.pid as number
    await writeLock(JSON.stringify({ pid, head: 'their-head', startedAt: new Date().toISOString() }))

    const refused = await acquireNodeLock(stateDir, { head: 'our-head' })
    expect(refused.acquired).toBe(false)
    if (refused.acquired) return
    expect(refused.holder.pid).toBe(pid)
    expect(refused.holder.head).toBe('their-head')

    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
    const taken = await acquireNodeLock(stateDir, { head: 'our-head' })
    expect(taken.acquired).toBe(true)
    expect(JSON.parse(await readFile(lockFile, 'utf8'))).toMatchObject({ pid: process.pid, head: 'our-head' })
  })

  it("counts a process that is someone else's (EPERM) as alive", async () => {
    await writeLock(JSON.stringify({ pid: 1, head: 'init', startedAt: new Date().toISOString() }))
    const refused = await acquireNodeLock(stateDir, { head: 'ours' })
    expect(refused).toMatchObject({ acquired: false, holder: { pid: 1, head: 'init' } })
  })

  it('takes over a garbage or empty lock file', async () => {
    for (const garbage of ['not json {', '', '{"pid":0,"head":"x","startedAt":"y"}', '[]']) {
      await writeLock(garbage)
      const lock = await acquireNodeLock(stateDir, { head: 'ours' })
      expect(lock.acquired).toBe(true)
      expect(JSON.parse(await readFile(lockFile, 'utf8')).pid).toBe(process.pid)
      if (lock.acquired) await lock.release()
    }
  })

  it('lets only one of many concurrent takers win', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => acquireNodeLock(stateDir, { head: `h${i}` })))
    expect(results.filter((r) => r.acquired)).toHaveLength(1)
    expect(await readdir(stateDir)).toEqual(['node.lock'])
  })

  it('release removes the lock, twice is fine, and a new take then succeeds', async () => {
    const lock = await acquireNodeLock(stateDir, { head: 'h' })
    if (!lock.acquired) throw new Error('expected the lock')
    await lock.release()
    await expect(stat(lockFile)).rejects.toMatchObject({ code: 'ENOENT' })
    await lock.release()
    const next = await acquireNodeLock(stateDir, { head: 'h' })
    expect(next.acquired).toBe(true)
  })

  it('release leaves a lock that is no longer ours alone', async () => {
    const lock = await acquireNodeLock(stateDir, { head: 'h' })
    if (!lock.acquired) throw new Error('expected the lock')
    const theirs = JSON.stringify({ pid: 1, head: 'x', startedAt: new Date().toISOString() })
    await writeFile(lockFile, theirs)
    await lock.release()
    expect(await readFile(lockFile, 'utf8')).toBe(theirs)
  })
})

describe('releaseNodeLockSync', () => {
  it('removes the lock only when it holds the given pid, and never throws', async () => {
    releaseNodeLockSync(stateDir) // no folder at all
    await acquireNodeLock(stateDir, { head: 'h' })
    releaseNodeLockSync(stateDir, process.pid + 1)
    expect((await stat(lockFile)).isFile()).toBe(true)
    releaseNodeLockSync(stateDir)
    await expect(stat(lockFile)).rejects.toMatchObject({ code: 'ENOENT' })
    releaseNodeLockSync(stateDir)
  })
})

describe('checkStateDir', () => {
  it("refuses a folder another user owns, naming the fix, and takes one of one's own", async () => {
    await mkdir(stateDir, { recursive: true, mode: 0o700 })
    const owner = (await stat(stateDir)).uid
    await expect(checkStateDir(stateDir, owner)).resolves.toBeUndefined()
    await expect(checkStateDir(stateDir, owner + 1)).rejects.toMatchObject({
      name: 'InvalidOptionError',
      message: `the state folder ${stateDir} belongs to another user (uid ${owner}, not yours, ${owner + 1}), who could change the code this node runs; give --state-dir (or MESHPOOL_STATE_DIR) a folder of your own, e.g. one made with mktemp -d`,
    })
  })

  it('refuses a folder its group or everyone may write', async () => {
    for (const mode of [0o770, 0o707, 0o1777]) {
      await mkdir(stateDir, { recursive: true })
      await chmod(stateDir, mode)
      await expect(acquireNodeLock(stateDir, { head: 'h' })).rejects.toMatchObject({
        name: 'InvalidOptionError',
        message: expect.stringContaining(`run: chmod 700 ${stateDir}`),
      })
    }
  })
})

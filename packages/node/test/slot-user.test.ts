import { statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { lookupSlotUser, setUpSlots } from '../src/node/slot-user.js'

describe('lookupSlotUser', () => {
  it('refuses a node that is not root, naming the fix', () => {
    expect(() => lookupSlotUser('nobody', 1000)).toThrow(
      /--slot-user nobody needs the node to run as root \(it runs as uid 1000\): start it as root, or leave --slot-user out/,
    )
  })

  it('refuses a user this machine does not have, and root itself', () => {
    expect(() => lookupSlotUser('no-such-user-here', 0)).toThrow(/there is no user "no-such-user-here" on this machine/)
    expect(() => lookupSlotUser('root', 0)).toThrow(/--slot-user root is root: name an unprivileged user/)
  })
})

describe('setUpSlots with a slot user (tests run as root)', () => {
  it('loads shipped code from a copy in a folder only the slot user may read, removed at close', async () => {
    const user = lookupSlotUser('nobody')
    const cached = new URL('../package.json', import.meta.url).pathname
    const slots = await setUpSlots(user, async () => cached)
    const path = await slots.modulePath({ worker: 'w.js', codeHash: 'abc' } as never)
    expect(await readFile(path, 'utf8')).toBe(await readFile(cached, 'utf8'))
    const folder = statSync(path.slice(0, path.lastIndexOf('/')))
    expect([folder.uid, folder.gid, folder.mode & 0o777]).toEqual([user.uid, user.gid, 0o700])
    expect(statSync(path).uid).toBe(user.uid)
    await slots.close()
    expect(() => statSync(path)).toThrow(/ENOENT/)
  })
})

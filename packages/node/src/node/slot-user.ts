import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { chmod, chown, copyFile, mkdtemp, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InvalidOptionError, type PoolSpec } from '@meshpool/core'

/** The user slot processes run as (`--slot-user`), so they can read neither the node's files nor its /proc entries. */
export interface SlotUser {
  name: string
  uid: number
  gid: number
}

/**
 * Looks up the user slots should run as. Refused unless this process is root
 * (only root may start processes as another user) and the user exists.
 */
export function lookupSlotUser(name: string, uid = process.getuid?.()): SlotUser {
  if (uid !== 0) {
    throw new InvalidOptionError(
      `--slot-user ${name} needs the node to run as root (it runs as uid ${uid ?? 'unknown'}): start it as root, or leave --slot-user out (slots then run as this user and can read its files)`,
    )
  }
  const id = (flag: string): number => {
    try {
      return Number(execFileSync('id', [flag, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim())
    } catch {
      throw new InvalidOptionError(
        `--slot-user: there is no user ${JSON.stringify(name)} on this machine; name an existing one (e.g. nobody), or create one (useradd --system --no-create-home meshpool-slot)`,
      )
    }
  }
  const user = { name, uid: id('-u'), gid: id('-g') }
  if (user.uid === 0)
    throw new InvalidOptionError(`--slot-user ${name} is root: name an unprivileged user, e.g. nobody`)
  return user
}

/**
 * A folder the slot user owns (mode 0700, in the temp folder): the node's state
 * folder is private, so shipped code is copied here for its slots to load, and
 * the slots write their own files (a shipped command's files) beside it.
 */
export class SlotFolder {
  readonly dir: string
  readonly #user: SlotUser

  private constructor(dir: string, user: SlotUser) {
    this.dir = dir
    this.#user = user
  }

  static async create(user: SlotUser): Promise<SlotFolder> {
    const dir = await mkdtemp(join(tmpdir(), 'meshpool-slots-'))
    await chown(dir, user.uid, user.gid)
    await chmod(dir, 0o700)
    return new SlotFolder(dir, user)
  }

  /** A copy of the (checked) cached module `file` that the slot user may read; where the slot imports it from. */
  async copyOf(file: string, hash: string): Promise<string> {
    const target = join(this.dir, `${hash}.mjs`)
    const temp = `${target}.${process.pid}.${randomUUID()}.tmp`
    await copyFile(file, temp)
    await chown(temp, this.#user.uid, this.#user.gid)
    await rename(temp, target)
    return target
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true })
  }
}

/** What a node's slots need from its runner: who they run as, and where they import each pool's worker from. */
export interface SlotSetup {
  user?: SlotUser
  modulePath: (spec: PoolSpec) => Promise<string>
  /** Removes the slot user's folder, if any. */
  close(): Promise<void>
}

/**
 * The slots of a node or head: as the node's own user, shipped code loads from
 * the (checked) cache; as `user` (see {@link lookupSlotUser}), from a copy in a {@link SlotFolder}.
 */
export async function setUpSlots(
  user: SlotUser | undefined,
  cached: (hash: string) => Promise<string>,
): Promise<SlotSetup> {
  if (user === undefined) {
    return {
      modulePath: async (spec) => (spec.codeHash === undefined ? spec.worker : cached(spec.codeHash)),
      close: async () => {},
    }
  }
  const folder = await SlotFolder.create(user)
  return {
    user,
    modulePath: async (spec) =>
      spec.codeHash === undefined ? spec.worker : folder.copyOf(await cached(spec.codeHash), spec.codeHash),
    close: () => folder.remove(),
  }
}

import { randomBytes } from 'node:crypto'
import { readFileSync, unlinkSync } from 'node:fs'
import { link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { InvalidOptionError } from '@meshpool/core'

/** The folder under the home directory where meshpool keeps its state. */
const DEFAULT_STATE_DIR_NAME = '.meshpool'
const LOCK_FILE = 'node.lock'

/** A node's state folder when none is given: `~/.meshpool/node`. */
export function defaultStateDir(home = os.homedir()): string {
  return join(home, DEFAULT_STATE_DIR_NAME, 'node')
}

/** What `node.lock` holds: the process running the node, its head and when it started. */
export interface NodeLockHolder {
  pid: number
  head: string
  /** ISO 8601 */
  startedAt: string
}

/**
 * Takes `stateDir/node.lock`, so one `meshpool join` node runs per state folder.
 * A lock whose process is alive (our own pid included) is refused with its holder;
 * one whose process is gone, or that is not a lock at all, is taken over.
 */
export async function acquireNodeLock(
  stateDir: string,
  holder: { head: string; pid?: number },
): Promise<{ acquired: true; release(): Promise<void> } | { acquired: false; holder: NodeLockHolder }> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 })
  await checkStateDir(stateDir)
  const file = join(stateDir, LOCK_FILE)
  const ours: NodeLockHolder = {
    pid: holder.pid ?? process.pid,
    head: holder.head,
    startedAt: new Date().toISOString(),
  }
  const text = JSON.stringify(ours)
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await createWithContent(file, text)) {
      return {
        acquired: true,
        release: async () => {
          if ((await readText(file)) === text) await unlink(file).catch(() => {})
        },
      }
    }
    const seen = await readText(file)
    if (seen === undefined) continue // released meanwhile: try again
    const current = parseHolder(seen)
    if (current && isAlive(current.pid)) return { acquired: false, holder: current }
    // Stale: remove it only if nobody replaced it since we read it. Two racers that both
    // re-read the stale text before either unlinks can still both win (the later unlink
    // removes the earlier racer's fresh lock); that window is a few microseconds wide.
    if ((await readText(file)) === seen) await unlink(file).catch(() => {})
  }
  throw new Error(`could not take ${file}: it keeps changing; is another meshpool node starting?`)
}

/**
 * Refuses a state folder that another user owns or that others may write: the
 * node runs the code cached there and keeps its identity there, so whoever can
 * change the folder could change what runs. (`/tmp/meshpool-<job id>`, made in
 * advance by someone else, is the case this stops.)
 */
export async function checkStateDir(stateDir: string, uid = process.getuid?.()): Promise<void> {
  if (process.platform === 'win32') return
  const info = await stat(stateDir)
  if (uid !== undefined && info.uid !== uid) {
    throw new InvalidOptionError(
      `the state folder ${stateDir} belongs to another user (uid ${info.uid}, not yours, ${uid}), who could change the code this node runs; give --state-dir (or MESHPOOL_STATE_DIR) a folder of your own, e.g. one made with mktemp -d`,
    )
  }
  if ((info.mode & 0o022) !== 0) {
    throw new InvalidOptionError(
      `the state folder ${stateDir} can be written by other users (mode ${(info.mode & 0o777).toString(8)}), who could change the code this node runs; run: chmod 700 ${stateDir} (or give --state-dir a folder of your own)`,
    )
  }
}

/** Removes `stateDir/node.lock` if it holds `pid`, synchronously (for `process.on('exit')`); never throws. */
export function releaseNodeLockSync(stateDir: string, pid = process.pid): void {
  const file = join(stateDir, LOCK_FILE)
  try {
    if (parseHolder(readFileSync(file, 'utf8'))?.pid === pid) unlinkSync(file)
  } catch {}
}

/**
 * Creates `file` holding `text` atomically: written to a temp file first, then
 * hard-linked into place, which fails with EEXIST like O_EXCL does. So no reader
 * ever sees a half-written lock and takes it for garbage.
 */
async function createWithContent(file: string, text: string): Promise<boolean> {
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  const handle = await open(temp, 'wx', 0o600)
  try {
    try {
      await handle.writeFile(text)
    } finally {
      await handle.close()
    }
    await link(temp, file)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  } finally {
    await unlink(temp).catch(() => {})
  }
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

function parseHolder(text: string): NodeLockHolder | undefined {
  try {
    const { pid, head, startedAt } = JSON.parse(text) as Partial<NodeLockHolder>
    if (Number.isSafeInteger(pid) && (pid as number) > 0 && typeof head === 'string' && typeof startedAt === 'string') {
      return { pid: pid as number, head, startedAt }
    }
  } catch {}
  return undefined
}

/** Signal 0 checks the process exists; EPERM means it exists but is someone else's. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

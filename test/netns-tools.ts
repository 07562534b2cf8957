/**
 * The machine side of test/netns.ts: running `ip`, the processes in a namespace,
 * deleting namespaces, sweeping those of a crashed run (through the registry),
 * and checking that this machine can make namespaces at all.
 */
import { execFile, execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Where live topologies note their owner's pid and namespaces, so a later run can sweep a crashed one's. */
export const REGISTRY = join(tmpdir(), 'meshpool-netns')

/** Why the machine cannot give a test network namespaces; the test fails with it. */
export class NetnsUnavailableError extends Error {
  override name = 'NetnsUnavailableError'
}

interface IpResult {
  ok: boolean
  code: string | number | null
  stderr: string
}

function ip(args: string[], timeoutMs = 10_000): Promise<IpResult> {
  return new Promise((resolve) => {
    execFile('ip', args, { timeout: timeoutMs }, (err, _stdout, stderr) => {
      if (err === null) resolve({ ok: true, code: 0, stderr })
      else resolve({ ok: false, code: (err as NodeJS.ErrnoException).code ?? err.code ?? null, stderr })
    })
  })
}

export async function ipOrThrow(args: string[]): Promise<void> {
  const result = await ip(args)
  if (!result.ok) throw new Error(`\`ip ${args.join(' ')}\` failed (${result.code}): ${result.stderr.trim()}`)
}

function ipSync(args: string[]): string {
  try {
    return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString()
  } catch {
    return ''
  }
}

/** Pids of the processes in a namespace (empty if it is gone). */
function pidsIn(ns: string): number[] {
  return ipSync(['netns', 'pids', ns])
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isSafeInteger(pid) && pid > 0)
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Kills what is left in the namespaces and deletes them; synchronous, for exit paths too. */
export function killAndDelete(namespaces: string[]): void {
  for (const ns of namespaces) {
    for (const pid of pidsIn(ns)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
    ipSync(['netns', 'delete', ns])
  }
}

/** Deletes the namespaces of topologies whose owning process is gone (a crashed or killed run). */
export function sweepStale(): void {
  let entries: string[]
  try {
    entries = readdirSync(REGISTRY)
  } catch {
    return
  }
  for (const entry of entries) {
    const file = join(REGISTRY, entry)
    try {
      const { pid, namespaces, dir } = JSON.parse(readFileSync(file, 'utf8')) as {
        pid: number
        namespaces: string[]
        dir: string
      }
      if (alive(pid)) continue
      killAndDelete(namespaces)
      if (typeof dir === 'string' && dir.startsWith(join(tmpdir(), 'meshpool-mp'))) {
        rmSync(dir, { recursive: true, force: true })
      }
      rmSync(file, { force: true })
    } catch {
      // Unreadable or half-written: leave it to its owner.
    }
  }
}

/**
 * Checks that this machine lets us create namespaces and veth pairs, by making
 * a throwaway pair in a throwaway namespace. Throws NetnsUnavailableError
 * saying why not (no iproute2, not root / no CAP_NET_ADMIN, no veth support).
 */
export async function checkNetns(prefix: string): Promise<void> {
  const why = (what: string): NetnsUnavailableError =>
    new NetnsUnavailableError(
      `this machine can't create network namespaces for the partition test: ${what}. ` +
        'It needs Linux, iproute2 (`ip`), and root with CAP_SYS_ADMIN and CAP_NET_ADMIN (in a container: --privileged, or --cap-add SYS_ADMIN --cap-add NET_ADMIN).',
    )
  if (process.platform !== 'linux') throw why(`network namespaces are a Linux feature, and this is ${process.platform}`)
  const probe = `${prefix}-chk`
  const added = await ip(['netns', 'add', probe])
  if (!added.ok) {
    if (added.code === 'ENOENT') throw why('the `ip` command (iproute2) is not installed, or not on PATH')
    const uid = process.getuid?.()
    throw why(
      `\`ip netns add\` failed: ${added.stderr.trim() || `exit ${added.code}`}` +
        (uid === 0
          ? ' (running as root, but without a capability it needs: CAP_SYS_ADMIN or CAP_NET_ADMIN)'
          : ` (running as uid ${uid}, not root)`),
    )
  }
  try {
    const veth = await ip(['-n', probe, 'link', 'add', `${prefix}c0`, 'type', 'veth', 'peer', 'name', `${prefix}c1`])
    if (!veth.ok) throw why(`creating a veth pair failed: ${veth.stderr.trim() || `exit ${veth.code}`}`)
    const exec = await ip(['netns', 'exec', probe, 'true'])
    if (!exec.ok) throw why(`\`ip netns exec\` failed: ${exec.stderr.trim() || `exit ${exec.code}`}`)
  } finally {
    await ip(['netns', 'delete', probe])
  }
}

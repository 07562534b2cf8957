// The processes of this machine as /proc shows them: whether one is alive, its
// children, a node's slot processes.
import { readdirSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

interface ProcInfo {
  ppid: number
  state: string
}

function procInfo(pid: number): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // pid (comm) state ppid …; comm may hold spaces and parentheses, so split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return { state: rest[0] as string, ppid: Number(rest[1]) }
  } catch {
    return undefined
  }
}

/** Alive: exists and is not a zombie (an orphan's zombie may linger if nothing reaps it). */
export function alive(pid: number): boolean {
  const info = procInfo(pid)
  return info !== undefined && info.state !== 'Z'
}

/** The live child processes of a process (what `pgrep -P` gives), from /proc. */
export function childPids(parent: number): number[] {
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    const info = procInfo(pid)
    if (info?.ppid === parent && info.state !== 'Z') out.push(pid)
  }
  return out
}

/** The slot processes of a node: its children running slot/main.js. */
export function slotPids(nodePid: number): number[] {
  return childPids(nodePid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('slot/main.js')
    } catch {
      return false
    }
  })
}

/** Waits until none of the pids is alive, up to timeoutMs; returns those still alive. */
export async function waitGone(pids: Iterable<number>, timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs
  let left = [...pids].filter(alive)
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50)
    left = left.filter(alive)
  }
  return left
}

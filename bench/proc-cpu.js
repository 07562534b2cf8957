// CPU time of the bench's processes from /proc/<pid>/stat, and how busy each was
// over a window: what tells the head's cost from the cost of the processes that
// simulate its nodes (case i).
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** Clock ticks per second of /proc's times (100 on Linux almost everywhere; asked once). */
const TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** User + system CPU seconds the process has used so far (not its children), or NaN once it is gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS
  } catch {
    return Number.NaN
  }
}

/**
 * Seconds the process's main thread (its event loop) has spent runnable but waiting for a CPU
 * (/proc/<pid>/schedstat), or NaN: on a machine with more work than cores, what it lost to others.
 */
export function waitSeconds(pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9
  } catch {
    return Number.NaN
  }
}

/**
 * A window over some processes (`{ name, pid }`): `end()` gives each one's CPU use over
 * it (`cpuSeconds`; `percent`, of one core) and the share of it its event loop waited for a CPU (`waiting`).
 */
export function cpuWindow(procs) {
  const t0 = performance.now()
  const start = procs.map((proc) => [cpuSeconds(proc.pid), waitSeconds(proc.pid)])
  const machine0 = machineBusySeconds()
  return {
    end() {
      const seconds = (performance.now() - t0) / 1000
      // The whole machine (every process, ours and others'), as a share of one core: 200 % is 2 cores full.
      const machine = {
        name: 'machine',
        pid: 0,
        cpuSeconds: machineBusySeconds() - machine0,
        percent: ((machineBusySeconds() - machine0) / seconds) * 100,
        waiting: 0,
      }
      return procs
        .map((proc, i) => ({
          name: proc.name,
          pid: proc.pid,
          cpuSeconds: cpuSeconds(proc.pid) - start[i][0],
          percent: ((cpuSeconds(proc.pid) - start[i][0]) / seconds) * 100,
          waiting: ((waitSeconds(proc.pid) - start[i][1]) / seconds) * 100,
        }))
        .concat(machine)
    },
  }
}

/** CPU seconds the whole machine has been busy (every core, not idle nor waiting on I/O), from /proc/stat. */
function machineBusySeconds() {
  try {
    const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number)
    const [user, nice, system, , , irq, softirq, steal] = ticks
    return (user + nice + system + irq + softirq + steal) / TICKS
  } catch {
    return Number.NaN
  }
}

// Process handling for `pnpm bench`: real `meshpool head` / `meshpool join`
// processes started the way a user starts them, their output parsed, their
// memory read from /proc, and all of them stopped at the end or on failure.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const BIN = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
export const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url))

/** Every process the bench started and has not seen exit (with those it froze). */
const running = new Set()

/**
 * Starts `node <args>` in a process group of its own (so its slot processes can
 * be stopped with it, and Ctrl-C reaches the bench alone, which then stops it).
 * With `nice`, at that lower CPU priority (through nice(1), so every thread has it).
 */
export function start(name, args, env = {}, { nice } = {}) {
  const [command, argv] =
    nice === undefined ? [process.execPath, args] : ['nice', ['-n', String(nice), process.execPath, ...args]]
  const child = spawn(command, argv, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  // Linux shares the CPU between sessions (autogroups) first and by nice level only inside one:
  // a process in a session of its own needs its session's nice level lowered too.
  if (nice !== undefined) {
    try {
      writeFileSync(`/proc/${child.pid}/autogroup`, String(nice))
    } catch {}
  }
  let text = ''
  const listeners = new Set()
  const onData = (chunk) => {
    text += chunk.toString()
    // Keep memory bounded for chatty processes: the lines that matter come early.
    if (text.length > 4_000_000) text = text.slice(0, 1_000_000) + text.slice(-1_000_000)
    for (const listener of listeners) listener()
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const proc = {
    name,
    child,
    pid: child.pid,
    frozen: false,
    output: () => text,
    exited: new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        running.delete(proc)
        for (const listener of listeners) listener()
        resolve(code ?? signal ?? -1)
      })
    }),
    /** Resolves with the first line matching `pattern` (and the regexp's match). */
    waitForLine: (pattern, timeoutMs = 30_000) => firstLine(proc, listeners, pattern, timeoutMs),
    /** Counts the lines matching `pattern` so far. */
    count(pattern) {
      let n = 0
      for (const line of text.split('\n')) if (pattern.test(line)) n++
      return n
    },
    /** Signals the whole process group (the process and its slots). */
    signalGroup(signal) {
      try {
        process.kill(-child.pid, signal)
      } catch {}
    },
  }
  running.add(proc)
  return proc
}

/**
 * The first line of a process's output that matches `pattern` (the regexp's match);
 * rejects, with its last lines, once it exits or `timeoutMs` passes without one.
 * `listeners` are called on each chunk of output and at the exit.
 */
function firstLine(proc, listeners, pattern, timeoutMs) {
  return new Promise((resolve, reject) => {
    const check = () => {
      for (const line of proc.output().split('\n')) {
        const match = pattern.exec(line)
        if (match !== null) {
          done()
          resolve(match)
          return
        }
      }
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
        done()
        const how = proc.child.signalCode ?? `code ${proc.child.exitCode}`
        reject(
          new Error(`${proc.name} exited (${how}) before printing ${pattern}; its output:\n${tail(proc.output())}`),
        )
      }
    }
    const timer = setTimeout(() => {
      done()
      reject(
        new Error(
          `${proc.name} printed no line matching ${pattern} within ${timeoutMs} ms; its output:\n${tail(proc.output())}`,
        ),
      )
    }, timeoutMs)
    const done = () => {
      clearTimeout(timer)
      listeners.delete(check)
    }
    listeners.add(check)
    check()
  })
}

/** Says so on stderr when a process dies that the bench did not stop (its last lines tell why). */
export function watch(proc) {
  void proc.exited.then((code) => {
    if (proc.stopping !== true && !proc.expectDeath) {
      process.stderr.write(
        `  !! ${proc.name} (pid ${proc.pid}) exited unexpectedly (${code}); its last lines:\n${tail(proc.output())}\n`,
      )
    }
  })
  return proc
}

function tail(text) {
  const lines = text.trim().split('\n')
  return lines.slice(-30).join('\n')
}

/**
 * `meshpool head` on 127.0.0.1, a free port, no local slots (and `more` flags); resolves once it prints `ready`.
 * Without a password, the head makes its join token (the default secret), kept as `proc.token`.
 */
export async function startHead(keyFile, password, more = []) {
  const args = [BIN, 'head', '--host', '127.0.0.1', '--port', '0', '--no-work', '--key-file', keyFile, ...more]
  const proc = start('head', args, { MESHPOOL_PASSWORD: password ?? '' })
  await proc.waitForLine(/^ready$/)
  const address = /\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+/.exec(proc.output())?.[0]
  if (address === undefined) throw new Error(`no join address in the head's output:\n${proc.output()}`)
  proc.address = address
  if (password === undefined) {
    proc.token = /MESHPOOL_TOKEN=(\S+)/.exec(proc.output())?.[1]
    if (proc.token === undefined) throw new Error(`no join token in the head's output:\n${proc.output()}`)
  }
  return proc
}

/** `meshpool join <address> --slots N`; resolves once it prints `ready`, with its peer id. */
export async function joinNode(address, password, slots, name) {
  const proc = start(name, [BIN, 'join', address, '--slots', String(slots), '--name', name], {
    MESHPOOL_PASSWORD: password,
    // A state folder of its own: the node lock allows one node per folder.
    MESHPOOL_STATE_DIR: mkdtempSync(join(tmpdir(), 'meshpool-bench-node-')),
  })
  await proc.waitForLine(/^ready$/)
  const peerId = /^node (\S+)/m.exec(proc.output())?.[1]
  if (peerId === undefined) throw new Error(`no peer id in ${name}'s output:\n${proc.output()}`)
  proc.peerId = peerId
  return proc
}

/** Resident memory of a process in MB (VmRSS from /proc/<pid>/status), or NaN when it can't be read. */
export function rssMB(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1])
    return kb / 1024
  } catch {
    return Number.NaN
  }
}

/** Stops processes: SIGTERM, then SIGKILL to the whole group after `graceMs` (and always to leftovers of the group). */
export async function stop(procs, graceMs = 3000) {
  await Promise.all(
    procs.map(async (proc) => {
      proc.stopping = true
      if (proc.frozen) proc.signalGroup('SIGKILL')
      else if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGTERM')
      let timer
      await Promise.race([proc.exited, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))])
      clearTimeout(timer)
      proc.signalGroup('SIGKILL')
      await proc.exited
    }),
  )
}

/** Stops every process the bench started. */
export function stopAll(graceMs) {
  return stop([...running], graceMs)
}

/** For exit paths that can't wait: SIGKILL to every group at once. */
export function killAllNow() {
  for (const proc of running) {
    proc.signalGroup('SIGCONT')
    proc.signalGroup('SIGKILL')
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** The value at quantile q (0..1) of the numbers, by nearest rank. */
export function quantile(values, q) {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

/** Rejects after `ms` unless the promise settles first. */
export function withTimeout(promise, ms, what) {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${Math.round(ms / 1000)} s`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

/**
 * A watched head (key file `<keyName>.key` in `dir`) and two watched nodes of 1 slot each,
 * pushed onto `procs` to be stopped.
 */
export async function headAndTwoNodes(dir, keyName, password, procs) {
  const head = watch(await startHead(join(dir, `${keyName}.key`), password))
  procs.push(head)
  const nodes = await Promise.all([
    joinNode(head.address, password, 1, 'bench-node-1'),
    joinNode(head.address, password, 1, 'bench-node-2'),
  ])
  procs.push(...nodes)
  for (const node of nodes) watch(node)
  return { head, nodes }
}

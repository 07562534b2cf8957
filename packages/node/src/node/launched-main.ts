/**
 * The program `pool.launchWorkers()` starts for each node: it joins the head in
 * MESHPOOL_HEAD with the secret read from fd 3 (a pipe: the environment would
 * show it to its slots through /proc), prints `node <peer id>` and `ready`, and
 * leaves (draining) on SIGTERM, as `meshpool join` does, and when the process
 * that launched it ends, however it ends (see LIFELINE_FD).
 * Its options come as one JSON argument: { slots, gpus, stateDir, name, listen }.
 */
import { closeSync, readFileSync, rmSync } from 'node:fs'
import { Socket } from 'node:net'
import type { PoolAccess } from '../net/psk.js'
import { parseGpuSelection, planSlots } from './gpus.js'
import { joinHead } from './join-head.js'

/** The pipe the launcher writes the pool's secret to, as JSON, then closes. */
const ACCESS_FD = 3
const access = JSON.parse(readFileSync(ACCESS_FD, 'utf8')) as Pick<PoolAccess, 'token' | 'password' | 'poolKeyFile'>
closeSync(ACCESS_FD)
/**
 * A pipe whose other end only the launcher holds, and never writes to: it
 * closes when the launcher's process ends, by close(), an uncaught error or
 * SIGKILL, and the node then drains and leaves rather than outlive it.
 */
const LIFELINE_FD = 4
/** What to do once the launcher is gone: before the node has joined, just end. */
let onLauncherGone = (): void => process.exit(0)
watchLauncher(() => onLauncherGone())

const options = JSON.parse(process.argv[2] ?? '{}') as {
  slots?: number
  gpus?: string
  stateDir: string
  name?: string
  listen?: string[]
}
const head = process.env.MESHPOOL_HEAD ?? ''
const plan = await planSlots({
  cpuSlots: options.slots ?? 1,
  slotsGiven: options.gpus === undefined,
  gpus: options.gpus === undefined ? undefined : parseGpuSelection(options.gpus),
})
for (const note of plan.notes) process.stderr.write(`${note}\n`)
const node = await joinHead({
  head,
  token: access.token,
  password: access.password,
  poolKeyFile: access.poolKeyFile,
  poolName: process.env.MESHPOOL_POOL_NAME || undefined,
  slots: plan.slots,
  gpus: plan.gpus,
  stateDir: options.stateDir,
  ...(options.name === undefined ? {} : { name: options.name }),
  ...(options.listen === undefined ? {} : { listen: options.listen }),
  onLine: (line) => process.stdout.write(`${line}\n`),
  onStatus: (status, detail) => {
    if (status === 'revoked' || status === 'stopped') {
      process.stdout.write(`${detail}\n`)
      process.exit(status === 'revoked' ? 1 : 0)
    }
  },
})
let leaving = false
const leave = (): void => {
  if (leaving) return
  leaving = true
  void node
    .drain()
    .then(() => node.stop())
    .then(() => {
      // The launcher removes it too, unless it is gone.
      rmSync(options.stateDir, { recursive: true, force: true })
      process.exit(0)
    })
}
// A second signal leaves at once; the launcher going away while the node drains changes nothing.
const onSignal = (): void => (leaving ? process.exit(0) : leave())
process.on('SIGTERM', onSignal)
process.on('SIGINT', onSignal)
onLauncherGone = leave
// Only now: the launcher may signal it as soon as it reads `ready`, and a SIGTERM before the
// handler is there kills the process outright (a loaded CI machine ran into that gap).
process.stdout.write(`node ${node.peerId}\nready\n`)

function watchLauncher(onGone: () => void): void {
  const lifeline = new Socket({ fd: LIFELINE_FD, readable: true, writable: false })
  lifeline.on('error', () => {})
  lifeline.once('close', () => {
    // The launcher read this node's output: with it gone, what the node prints while it drains goes nowhere.
    for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
    onGone()
  })
  lifeline.resume()
}

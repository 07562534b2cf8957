/**
 * The program `pool.launchWorkers()` starts for each node: it joins the head in
 * MESHPOOL_HEAD with the secret read from fd 3 (a pipe: the environment would
 * show it to its slots through /proc), prints `node <peer id>` and `ready`, and
 * leaves (draining) on SIGTERM, as `meshpool join` does.
 * Its options come as one JSON argument: { slots, gpus, stateDir, name, listen }.
 */
import { closeSync, readFileSync } from 'node:fs'
import type { PoolAccess } from '../net/psk.js'
import { parseGpuSelection, planSlots } from './gpus.js'
import { joinHead } from './join-head.js'

/** The pipe the launcher writes the pool's secret to, as JSON, then closes. */
const ACCESS_FD = 3
const access = JSON.parse(readFileSync(ACCESS_FD, 'utf8')) as Pick<PoolAccess, 'token' | 'password' | 'poolKeyFile'>
closeSync(ACCESS_FD)

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
process.stdout.write(`node ${node.peerId}\nready\n`)
let leaving = false
const leave = (): void => {
  if (leaving) process.exit(0)
  leaving = true
  void node
    .drain()
    .then(() => node.stop())
    .then(() => process.exit(0))
}
process.on('SIGTERM', leave)
process.on('SIGINT', leave)

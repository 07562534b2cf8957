/**
 * The program `pool.launchWorkers()` starts for each node: it joins the head in
 * MESHPOOL_HEAD with the secret in the environment, prints `node <peer id>` and
 * `ready`, and leaves (draining) on SIGTERM, as `meshpool join` does.
 * Its options come as one JSON argument: { slots, gpus, stateDir, name, listen }.
 */
import { parseGpuSelection, planSlots } from './gpus.js'
import { joinHead } from './node-runner.js'

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
  token: process.env.MESHPOOL_TOKEN || undefined,
  password: process.env.MESHPOOL_PASSWORD || undefined,
  poolKeyFile: process.env.MESHPOOL_POOL_KEY_FILE || undefined,
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

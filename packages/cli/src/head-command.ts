import { printable } from '@meshpool/core'
import { DEFAULT_HEAD_KEY_FILE, DEFAULT_HEAD_PORT } from '@meshpool/node/defaults'
import type { SlotPlan } from '@meshpool/node/gpus'
import type { RunningHead } from '@meshpool/node/head'
import { Command, Option } from 'commander'
import { integer } from './options.js'
import { type AccessFlags, readAccess, readWebToken, withAccessOptions } from './password.js'
import { untilSignal } from './signals.js'
import { countOf, describeSlots, resolveSlots, type SlotFlags, withSlotOptions } from './slot-options.js'

/** Where the metrics and dashboard listen unless told otherwise, as startHead's own default: this machine only. */
const DEFAULT_WEB_HOST = '127.0.0.1'

export function headCommand(): Command {
  const command = new Command('head')
    .description('start the head of a mesh: the job ledger and the address nodes and clients join')
    .option('--port <port>', 'TCP port to listen on', integer('--port', { max: 65535 }), DEFAULT_HEAD_PORT)
    .addOption(new Option('--host <host>', 'address to listen on').default('0.0.0.0', '0.0.0.0, all interfaces'))
    .option('--key-file <file>', 'the head identity; keeps the join address across restarts', DEFAULT_HEAD_KEY_FILE)
    .option('--allow-peers <file>', 'only these peer ids (one per line) may join as nodes or connect as clients')
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics at http://<host>:<port>/metrics (0: a free port)',
      integer('--metrics-port', { max: 65535 }),
    )
    .option(
      '--dashboard-port <port>',
      'serve a live web page of the mesh at http://<host>:<port>/ (0: a free port)',
      integer('--dashboard-port', { max: 65535 }),
    )
    .addOption(
      new Option('--metrics-host <host>', 'address the metrics listen on (0.0.0.0: every interface)').default(
        DEFAULT_WEB_HOST,
        `${DEFAULT_WEB_HOST}, this machine only`,
      ),
    )
    .addOption(
      new Option('--dashboard-host <host>', 'address the dashboard listens on (0.0.0.0: every interface)').default(
        DEFAULT_WEB_HOST,
        `${DEFAULT_WEB_HOST}, this machine only`,
      ),
    )
    .option(
      '--web-token-file <file>',
      'the metrics and dashboard answer only requests with the token in this file, mode 0600, as ?token= or a Bearer header (default: $MESHPOOL_WEB_TOKEN)',
    )
    .option(
      '--standby <primary-multiaddr>',
      'run as the standby of the head there: no jobs while it answers, and the active head once it stops answering (needs its secret and a copy of its admin.key beside --key-file)',
    )
    .option(
      '--max-open-jobs <n>',
      'most jobs one client may have open; clients hold back the rest until results come (default 1000000)',
      integer('--max-open-jobs', { min: 1 }),
    )
  return withSlotOptions(withAccessOptions(command), 'local')
    .option('--no-work', 'run no local slots: a pure coordinator')
    .action(runHead)
}

interface HeadFlags extends SlotFlags, AccessFlags {
  port: number
  host: string
  keyFile: string
  allowPeers?: string
  maxOpenJobs?: number
  metricsPort?: number
  dashboardPort?: number
  metricsHost: string
  dashboardHost: string
  webTokenFile?: string
  standby?: string
  work: boolean
}

/** `meshpool head`: starts the head, says how to join it, and runs until a signal. */
async function runHead(opts: HeadFlags): Promise<void> {
  const access = readAccess(opts, { optional: true })
  const webToken = readWebToken(opts.webTokenFile)
  const plan = opts.work ? await resolveSlots(opts) : { slots: 0, gpus: [] }
  // Loaded here, not with the CLI: `meshpool status` and `--help` don't pay for the head's libp2p.
  const { startHead } = await import('@meshpool/node/head')
  const head = await startHead({
    ...access,
    port: opts.port,
    host: opts.host,
    keyFile: opts.keyFile,
    ...(opts.allowPeers === undefined ? {} : { allowPeersFile: opts.allowPeers }),
    ...(opts.maxOpenJobs === undefined ? {} : { maxOpenJobsPerClient: opts.maxOpenJobs }),
    ...(opts.standby === undefined ? {} : { standby: opts.standby }),
    ...(opts.metricsPort === undefined ? {} : { metricsPort: opts.metricsPort }),
    ...(opts.dashboardPort === undefined ? {} : { dashboardPort: opts.dashboardPort }),
    metricsHost: opts.metricsHost,
    dashboardHost: opts.dashboardHost,
    ...(webToken === undefined ? {} : { webToken }),
    slots: plan.slots,
    gpus: plan.gpus,
    ...(opts.slotUser === undefined ? {} : { slotUser: opts.slotUser }),
    // Names, reasons and workers' lines come from other machines: no terminal controls reach ours.
    onLine: (line) => process.stdout.write(`${printable(line)}\n`),
    onNodeEvent: (event) => {
      if (event.nodeId === 'local') return
      const who = `node ${event.name} (${event.nodeId})`
      const line =
        event.type === 'joined'
          ? `${who} joined with ${countOf(event.slots, 'slot')}`
          : `${who} left${event.reason === undefined ? '' : `: ${event.reason}`}`
      process.stdout.write(`${printable(line)}\n`)
    },
  })
  // Listening for the signal before `ready` is printed: a signal sent on seeing it finds the handler.
  const signalled = untilSignal()
  printJoinHelp(head, plan, {
    work: opts.work,
    webToken: webToken !== undefined,
    keyFile: access.poolKeyFile !== undefined,
  })
  await signalled
  process.stdout.write('stopping the head\n')
  await head.stop()
}

/** What the head runs, how to join it, where its web pages are, and its addresses; then `ready`. */
function printJoinHelp(
  head: RunningHead,
  plan: Pick<SlotPlan, 'slots' | 'gpus'>,
  given: { work: boolean; webToken: boolean; keyFile: boolean },
): void {
  const out = process.stdout
  out.write(`meshpool head ${head.peerId}\n`)
  const role = head.heads()
  if (!role.active)
    out.write(
      `standby of ${role.activePeer ?? 'a head it has not reached yet'}: it takes no jobs while that head answers\n`,
    )
  out.write(
    given.work
      ? `runs ${describeSlots(head.stats().workers || plan.slots, plan.gpus)} here\n`
      : 'runs no slots (--no-work): a pure coordinator\n',
  )
  out.write(
    head.token !== undefined
      ? "join it from another machine (the token is the pool's secret: pass it as you would a password; clients take it as MESHPOOL_TOKEN or { token }):\n\n"
      : !given.keyFile
        ? 'join it from another machine, with the same MESHPOOL_PASSWORD:\n\n'
        : 'join it from another machine, with a copy of the pool key file (--pool-key):\n\n',
  )
  out.write(`  ${head.joinCommand}\n\n`)
  const tokenNeeded = given.webToken ? ' (with the web token: ?token=… or Authorization: Bearer …)' : ''
  if (head.metricsUrl !== undefined) out.write(`metrics at ${head.metricsUrl}${tokenNeeded}\n`)
  if (head.dashboardUrl !== undefined) out.write(`dashboard at ${head.dashboardUrl}${tokenNeeded}\n`)
  if (head.adminKeyFile !== undefined)
    out.write(`revoke and stop nodes with its admin key: --admin-key ${head.adminKeyFile}\n`)
  out.write('all addresses:\n')
  for (const address of head.addresses) out.write(`  ${address}\n`)
  out.write('ready\n')
}

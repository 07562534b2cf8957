import { printable } from '@meshpool/core'
import { DEFAULT_DRAIN_TIMEOUT_MS } from '@meshpool/node/defaults'
import { DEFAULT_NODE_LISTEN } from '@meshpool/node/listen-address'
import type { NodeInit } from '@meshpool/node/node'
import { acquireNodeLock, defaultStateDir, releaseNodeLockSync } from '@meshpool/node/node-lock'
import { Command, Option } from 'commander'
import { integer } from './options.js'
import { type AccessFlags, readAccess, withAccessOptions } from './password.js'
import { untilSignal } from './signals.js'
import { describeSlots, resolveSlots, type SlotFlags, withSlotOptions } from './slot-options.js'

/** What `onStatus` of joinHead reports. */
type NodeStatus = Parameters<NonNullable<NodeInit['onStatus']>>[0]

interface JoinFlags extends SlotFlags, AccessFlags {
  name?: string
  drainTimeout: number
  stateDir: string
  listen: string
}

export function joinCommand(): Command {
  const command = new Command('join')
    .description('join this machine to a head as a node that runs worker slots (one node per machine)')
    .argument(
      '<head-multiaddr...>',
      'the address `meshpool head` prints, e.g. /ip4/10.0.0.5/tcp/8899/p2p/12D3KooW…; with a standby head, every head its join line lists',
    )
  return withSlotOptions(withAccessOptions(command), 'worker')
    .option(
      '--name <name>',
      'how the head, status and log prefixes name this node (default: the host name and the start of its peer id)',
    )
    .addOption(
      new Option('--state-dir <dir>', "the node's state folder, with the lock that keeps one node per folder").default(
        process.env.MESHPOOL_STATE_DIR || defaultStateDir(),
        '$MESHPOOL_STATE_DIR, else ~/.meshpool/node',
      ),
    )
    .addOption(
      new Option(
        '--listen <multiaddr>',
        'where other nodes reach this one (the gossip mesh and big updates pass node to node)',
      ).default(DEFAULT_NODE_LISTEN, `${DEFAULT_NODE_LISTEN}, every interface and a free port`),
    )
    .option(
      '--drain-timeout <ms>',
      'on SIGINT/SIGTERM, how long running jobs may finish before the node leaves (a second signal leaves at once)',
      integer('--drain-timeout'),
      DEFAULT_DRAIN_TIMEOUT_MS,
    )
    .action(runNode)
}

/** `meshpool join`: takes the state folder's lock, joins the head, and runs until a signal. */
async function runNode(heads: string[], opts: JoinFlags): Promise<void> {
  const access = readAccess(opts)
  const head = heads.join(' ')
  const lock = await acquireNodeLock(opts.stateDir, { head })
  if (!lock.acquired) {
    const { pid, head: itsHead, startedAt } = lock.holder
    process.stdout.write(
      `a meshpool node is already running here (pid ${pid}, joined to ${itsHead} since ${startedAt}; state folder ${opts.stateDir}).\n` +
        'One node per machine runs every slot; to run another one anyway, give it its own --state-dir.\n',
    )
    return
  }
  process.once('exit', () => releaseNodeLockSync(opts.stateDir))
  try {
    const plan = await resolveSlots(opts)
    const { joinHead } = await import('@meshpool/node/node')
    const node = await joinHead({
      head: heads.flatMap((h) => h.split(',')),
      ...access,
      slots: plan.slots,
      gpus: plan.gpus,
      stateDir: opts.stateDir,
      listen: [opts.listen],
      drainTimeoutMs: opts.drainTimeout,
      ...(opts.slotUser === undefined ? {} : { slotUser: opts.slotUser }),
      // Its workers' lines (shipped code) and other peers' words: no terminal controls reach the terminal.
      onLine: (line) => process.stdout.write(`${printable(line)}\n`),
      ...(opts.name === undefined ? {} : { name: opts.name }),
      onStatus: reportStatus,
    })
    // Listening for the signal before `ready` is printed: a signal sent on seeing it finds the handler.
    const signalled = untilSignal()
    process.stdout.write(
      `joined ${head}\nnode ${node.peerId} with ${describeSlots(node.slots, plan.gpus)}\n` +
        `listens for other nodes on ${node.addresses.join(' ') || 'no address (it dials out only)'}\nready\n`,
    )
    await signalled
    process.stdout.write(
      `draining: finishing running jobs (up to ${opts.drainTimeout} ms; signal again to leave now)\n`,
    )
    await node.drain(opts.drainTimeout)
    process.stdout.write('leaving the mesh\n')
    await node.stop()
  } finally {
    await lock.release()
  }
}

/** Says when the head is lost; a revoked or stopped node exits (1 and 0). */
function reportStatus(status: NodeStatus, detail?: string): void {
  if (status === 'disconnected')
    process.stderr.write(`lost the head${detail === undefined ? '' : ` (${detail})`}; reconnecting…\n`)
  if (status === 'revoked') {
    process.stderr.write(`${detail}\n`)
    process.exit(1)
  }
  if (status === 'stopped') {
    process.stdout.write(`${detail}: left the mesh\n`)
    process.exit(0)
  }
}

import { DEFAULT_DRAIN_TIMEOUT_MS, defaultSlots, joinHead } from '@meshpool/node'
import { Command } from 'commander'
import { integer } from './options.js'
import { readPassword } from './password.js'
import { untilSignal } from './signals.js'

export function joinCommand(): Command {
  return new Command('join')
    .description('join this machine to a head as a node that runs worker slots')
    .argument('<head-multiaddr>', 'the address `meshpool head` prints, e.g. /ip4/10.0.0.5/tcp/8899/p2p/12D3KooW…')
    .option('--password-file <file>', 'read the pool password from this file (default: $MESHPOOL_PASSWORD)')
    .option(
      '--slots <n>',
      `CPU worker slots (default: cores minus one = ${defaultSlots()})`,
      integer('--slots', { min: 1 }),
    )
    .option('--name <name>', 'how this node is shown to the head (default: the host name)')
    .option(
      '--drain-timeout <ms>',
      'on SIGINT/SIGTERM, how long running jobs may finish before the node leaves (a second signal leaves at once)',
      integer('--drain-timeout'),
      DEFAULT_DRAIN_TIMEOUT_MS,
    )
    .action(
      async (head: string, opts: { passwordFile?: string; slots?: number; name?: string; drainTimeout: number }) => {
        const password = readPassword(opts.passwordFile)
        const node = await joinHead({
          head,
          password,
          ...(opts.slots === undefined ? {} : { slots: opts.slots }),
          ...(opts.name === undefined ? {} : { name: opts.name }),
          onStatus: (status, detail) => {
            if (status === 'disconnected')
              process.stderr.write(`lost the head${detail === undefined ? '' : ` (${detail})`}; reconnecting…\n`)
          },
        })
        process.stdout.write(`joined ${head}\nnode ${node.peerId} with ${node.slots} slots\nready\n`)
        await untilSignal()
        process.stdout.write(
          `draining: finishing running jobs (up to ${opts.drainTimeout} ms; signal again to leave now)\n`,
        )
        await node.drain(opts.drainTimeout)
        process.stdout.write('leaving the mesh\n')
        await node.stop()
      },
    )
}

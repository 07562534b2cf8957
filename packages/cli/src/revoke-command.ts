import { Command } from 'commander'
import { ADMIN_KEY_HELP, type AdminFlags, adminKeyOf } from './admin-flags.js'
import { type AccessFlags, readAccess, withAccessOptions } from './password.js'
import { headList } from './status-command.js'

export function revokeCommand(): Command {
  const command = new Command('revoke')
    .description('disconnect a node and refuse it from now on, without changing the password')
    .argument('<peer-id>', 'the peer id the node printed (node 12D3KooW…), or the one in the head’s log')
    .requiredOption(
      '--head <multiaddr...>',
      'the head, as `meshpool head` prints it (or every head of the mesh, the primary first)',
    )
    .option('--admin-key <file>', ADMIN_KEY_HELP)
  return withAccessOptions(command).action(
    async (peerId: string, opts: AccessFlags & AdminFlags & { head: string[] }) => {
      const { revokeNode } = await import('@meshpool/node/admin')
      const known = await revokeNode({ head: headList(opts.head), peerId, ...readAccess(opts), ...adminKeyOf(opts) })
      process.stdout.write(
        known
          ? `revoked ${peerId}: disconnected, and refused from now on\n`
          : `revoked ${peerId}: it never joined this head, and it is refused from now on\n`,
      )
    },
  )
}

import { Command, CommanderError } from 'commander'
import { headCommand } from './head-command.js'
import { joinCommand } from './join-command.js'
import { k8sCommand } from './k8s-command.js'
import { keygenCommand } from './keygen-command.js'
import { unknownOptionsFirst } from './options.js'
import { revokeCommand } from './revoke-command.js'
import { runCommand } from './run-command.js'
import { slurmCommand } from './slurm-command.js'
import { statusCommand, stopCommand } from './status-command.js'
import { UsageError } from './usage-error.js'

// The commands below import the head and the node through @meshpool/node's subpaths, and the client
// (`@meshpool/node` itself: createPool, the bundler) only inside their actions: a head or a node
// process never loads client code.
const program = new Command('meshpool')
  .description('a peer-to-peer worker pool: one head, many nodes, one slot per GPU, no broker')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .addCommand(headCommand())
  .addCommand(joinCommand())
  .addCommand(runCommand())
  .addCommand(keygenCommand())
  .addCommand(revokeCommand())
  .addCommand(statusCommand())
  .addCommand(stopCommand())
  .addCommand(slurmCommand())
  .addCommand(k8sCommand())

for (const command of program.commands)
  unknownOptionsFirst(command.exitOverride().showHelpAfterError('(run with --help for usage)'))

try {
  await program.parseAsync(process.argv)
  process.exit(process.exitCode ?? 0)
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2)
  const e = err as Error
  const usage = e instanceof UsageError || e?.name === 'InvalidOptionError'
  process.stderr.write(`meshpool: ${e?.message ?? String(err)}\n`)
  if (process.env.DEBUG !== undefined && e?.stack !== undefined) process.stderr.write(`${e.stack}\n`)
  process.exit(usage ? 2 : 1)
}

import { resolve } from 'node:path'
import { writePoolKeyFile } from '@meshpool/node/psk'
import { Command } from 'commander'

export function keygenCommand(): Command {
  return new Command('keygen')
    .description('write a random 256-bit pool key file (mode 0600), to use instead of a password')
    .argument('<file>', 'where to write it; an existing file is never overwritten')
    .action(async (file: string) => {
      await writePoolKeyFile(file)
      const path = resolve(file)
      process.stdout.write(
        `wrote a pool key to ${path} (mode 0600)\n` +
          'copy it to the head and to every node and client (keep it mode 0600), and use it instead of a password:\n' +
          `  meshpool head --pool-key ${path}\n` +
          `  meshpool join <head-address> --pool-key ${path}\n` +
          `  MESHPOOL_POOL_KEY_FILE=${path} node your-program.js\n`,
      )
    })
}

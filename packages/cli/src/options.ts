import { type Command, InvalidArgumentError } from 'commander'

/** Parses a whole number option for commander, with a message that names the flag. */
export function integer(flag: string, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) {
  return (value: string): number => {
    const n = Number(value)
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag} takes a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`)
    }
    return n
  }
}

/**
 * Commander checks required options before unknown ones, so a mistyped `--inptu`
 * reads as "required option '--input' not specified". This checks them after:
 * an unknown option is named first.
 */
export function unknownOptionsFirst(command: Command): Command {
  const required = command.options.filter((option) => option.mandatory)
  for (const option of required) option.mandatory = false
  if (required.length === 0) return command
  return command.hook('preAction', (cmd) => {
    for (const option of required) {
      if (cmd.getOptionValue(option.attributeName()) === undefined) {
        cmd.error(`error: required option '${option.flags}' not specified`, {
          code: 'commander.missingMandatoryOptionValue',
        })
      }
    }
  })
}

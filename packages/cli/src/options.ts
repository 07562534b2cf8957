import { InvalidArgumentError } from 'commander'

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

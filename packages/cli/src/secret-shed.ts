/**
 * Keeps the pool's secret out of every environment a slot could read.
 * /proc/<pid>/environ and /proc/<pid>/cmdline show what a process was
 * *started* with, whatever it deletes later, and a slot (same user) can read
 * its node's. So `meshpool head` and `meshpool join`, given a secret in the
 * environment or as `--token`, hand it to themselves in a private file and
 * re-exec (same pid, same terminal) without it; the new image reads the file,
 * deletes it, and takes the secret from {@link secretEnv} and process.argv.
 * This file imports no more than Node's own modules: it runs before the rest
 * of the CLI loads, so the re-exec costs one Node start-up.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'

/** The environment variables that hold a secret (or say where one is). */
const SECRET_VARS = ['MESHPOOL_TOKEN', 'MESHPOOL_PASSWORD', 'MESHPOOL_POOL_KEY_FILE', 'MESHPOOL_WEB_TOKEN']
/** The flags whose value is a secret. */
const SECRET_FLAGS = ['--token']
/** Names the hand-over file in the re-exec'd process's environment (the file is gone once read). */
const HANDOFF_VAR = 'MESHPOOL_SECRET_HANDOFF'
/** The commands that run slots, and so must shed their secret. */
const SLOT_COMMANDS = new Set(['head', 'join'])
/** The private folder (in the temp folder) that holds the hand-over file. */
const HANDOFF_PREFIX = 'meshpool-handoff-'

interface Handoff {
  env: Record<string, string>
  argv: string[]
}

let handed: Record<string, string> = {}

/**
 * Takes what the previous image handed over, if this is a re-exec; else, for a
 * command that runs slots and holds a secret, re-execs without it (never returns).
 * Without process.execve (Node before 22.15) the secret stays where it was.
 */
export function shedSecrets(): void {
  const file = process.env[HANDOFF_VAR]
  if (file !== undefined) {
    delete process.env[HANDOFF_VAR]
    const handoff = takeHandoff(file)
    handed = handoff.env
    process.argv = handoff.argv
    return
  }
  if (!SLOT_COMMANDS.has(process.argv[2] ?? '')) return
  const execve = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve
  const env = Object.fromEntries(SECRET_VARS.flatMap((name) => (process.env[name] ? [[name, process.env[name]]] : [])))
  const argv = withoutSecretFlags(process.argv)
  if (execve === undefined || (Object.keys(env).length === 0 && argv.length === process.argv.length)) return
  const dir = mkdtempSync(join(tmpdir(), HANDOFF_PREFIX))
  const path = join(dir, 'secret.json')
  writeFileSync(path, JSON.stringify({ env, argv: process.argv } satisfies Handoff), { mode: 0o600 })
  const rest: NodeJS.ProcessEnv = { ...process.env, [HANDOFF_VAR]: path }
  for (const name of SECRET_VARS) delete rest[name]
  try {
    execve(process.execPath, [process.execPath, ...process.execArgv, ...argv.slice(1)], rest)
  } catch {
    rmSync(dir, { recursive: true, force: true }) // could not re-exec: go on as we are
  }
}

/** Reads the hand-over file and deletes its folder (only a folder named as shedSecrets names them). */
function takeHandoff(file: string): Handoff {
  let handoff: Handoff
  try {
    handoff = JSON.parse(readFileSync(file, 'utf8')) as Handoff
  } catch (err) {
    throw new Error(
      `${HANDOFF_VAR} names ${file}, which holds no secret handed over by meshpool (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): unset ${HANDOFF_VAR}`,
    )
  }
  const dir = dirname(file)
  if (basename(dir).startsWith(HANDOFF_PREFIX)) rmSync(dir, { recursive: true, force: true })
  if (typeof handoff?.env !== 'object' || !Array.isArray(handoff.argv))
    throw new Error(`${file} is not a secret handed over by meshpool: unset ${HANDOFF_VAR}`)
  return handoff
}

/** An environment variable, from what the previous image handed over first; unset and empty alike are undefined. */
export function secretEnv(name: string): string | undefined {
  const value = handed[name] ?? process.env[name]
  return value === undefined || value === '' ? undefined : value
}

/** `argv` without `--token T` and `--token=T`. */
function withoutSecretFlags(argv: string[]): string[] {
  const kept: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (SECRET_FLAGS.includes(arg)) i++
    else if (!SECRET_FLAGS.some((flag) => arg.startsWith(`${flag}=`))) kept.push(arg)
  }
  return kept
}

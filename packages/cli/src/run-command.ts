import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { PoolOptions } from '@meshpool/node'
import { Command } from 'commander'
import { integer } from './options.js'
import { type AccessFlags, readAccess, withAccessOptions } from './password.js'
import { runSettled } from './run-jobs.js'
import { failureSummary, writeOutcomes } from './run-output.js'
import { RunBar } from './run-progress.js'
import { commandModule } from './ship-files.js'
import { UsageError } from './usage-error.js'

interface RunFlags extends AccessFlags {
  input: string
  cmd?: string
  ship?: string[]
  output?: string
  head?: string
  slots?: number
  init?: string
  failFast?: boolean
}

export function runCommand(): Command {
  const command = new Command('run')
    .description(
      'map a JSONL file through a worker module (or a command) with a progress bar; results as JSONL, in input order',
    )
    .argument('[worker-module]', "the worker module (its default export is the worker class), e.g. './trainer.js'")
    .option(
      '--cmd <command>',
      'instead of a module: run this shell command once per job, params as JSON on its stdin, its stdout (JSON) the result',
    )
    .option(
      '--ship <file...>',
      'with --cmd: send these files (under this folder) to every node, cached by hash; the command runs in a folder that holds them',
    )
    .requiredOption('--input <file>', 'the params of one job per line, as JSON')
    .option(
      '--output <file>',
      'one JSON line per input, in input order; a failed line gets {"error": …, "line": N} (default: stdout)',
    )
    .option('--fail-fast', 'stop at the first failed line, cancel the rest and write nothing (default: run every line)')
    .option('--head <multiaddr>', 'run on this mesh (default: local slots in this process)')
  return withAccessOptions(command, 'with --head: ')
    .option('--slots <n>', 'without --head: local slots (default: cores minus one)', integer('--slots', { min: 1 }))
    .option('--init <json>', "the worker constructor's init, as JSON")
    .action(async (worker: string | undefined, opts: RunFlags) => {
      if ((worker === undefined) === (opts.cmd === undefined)) {
        throw new UsageError(
          "give a worker module or --cmd '<command>', one of them: meshpool run ./worker.js --input F, or meshpool run --cmd 'python3 job.py' --input F",
        )
      }
      if (opts.cmd !== undefined && opts.init !== undefined)
        throw new UsageError('--init is for a worker module, not --cmd')
      if (opts.cmd === undefined && opts.ship !== undefined)
        throw new UsageError('--ship is for --cmd: a worker module ships what it imports by itself')
      const { inputs, lines } = await readJsonLines(opts.input)
      const { COMMAND_WORKER } = await import('@meshpool/node')
      const shipped = opts.ship === undefined ? undefined : await commandModule(opts.ship)
      const options: PoolOptions =
        opts.cmd !== undefined
          ? { worker: shipped ?? COMMAND_WORKER, init: { cmd: opts.cmd } }
          : { worker: resolve(worker as string), init: parseJson(opts.init, '--init') }
      if (opts.head !== undefined) Object.assign(options, { head: opts.head, ...readAccess(opts) })
      else if (opts.slots !== undefined) options.slots = opts.slots
      await run(options, inputs, lines, opts)
    })
}

async function run(options: PoolOptions, inputs: unknown[], lines: number[], opts: RunFlags): Promise<void> {
  const { createPool } = await import('@meshpool/node')
  await using pool = await createPool(options)
  const bar = new RunBar(inputs.length)
  try {
    const outcomes = await runSettled(pool, inputs, {
      lines,
      failFast: opts.failFast === true,
      onProgress: (p) => bar.update(p),
    })
    bar.stop()
    await writeOutcomes(outcomes, lines, opts.output)
    const summary = failureSummary(outcomes, lines)
    const where = opts.output === undefined ? '' : ` in ${opts.output}`
    if (summary === undefined) process.stderr.write(`${outcomes.length} results${where}\n`)
    else {
      process.stderr.write(`${outcomes.length} records${where}\nmeshpool: ${summary}\n`)
      process.exitCode = 1
    }
  } finally {
    bar.stop()
  }
}

/** The params of each non-blank line, and each one's line number in the file (for its error record). */
async function readJsonLines(file: string): Promise<{ inputs: unknown[]; lines: number[] }> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new UsageError(`can't read --input ${file}: ${(err as Error).message}`)
  }
  const inputs: unknown[] = []
  const lines: number[] = []
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return
    inputs.push(parseJson(line, `line ${i + 1} of ${file}`))
    lines.push(i + 1)
  })
  return { inputs, lines }
}

function parseJson(text: string | undefined, what: string): unknown {
  if (text === undefined) return undefined
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new UsageError(`${what} is not JSON: ${(err as Error).message}`)
  }
}

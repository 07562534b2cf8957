import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { finished } from 'node:stream/promises'
import { COMMAND_WORKER, createPool, type PoolOptions, type Progress } from '@meshpool/node'
import cliProgress from 'cli-progress'
import { Command } from 'commander'
import { integer } from './options.js'
import { type AccessFlags, readAccess, withAccessOptions } from './password.js'
import { UsageError } from './usage-error.js'

interface RunFlags extends AccessFlags {
  input: string
  cmd?: string
  output?: string
  head?: string
  slots?: number
  init?: string
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
    .requiredOption('--input <file>', 'the params of one job per line, as JSON')
    .option('--output <file>', 'one JSON line per input, in input order (default: stdout)')
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
      const inputs = await readJsonLines(opts.input)
      const options: PoolOptions =
        opts.cmd !== undefined
          ? { worker: COMMAND_WORKER, init: { cmd: opts.cmd } }
          : { worker: resolve(worker as string), init: parseJson(opts.init, '--init') }
      if (opts.head !== undefined) Object.assign(options, { head: opts.head, ...readAccess(opts) })
      else if (opts.slots !== undefined) options.slots = opts.slots
      await using pool = await createPool(options)
      const bar = new cliProgress.SingleBar(
        {
          format:
            '{bar} {value}/{total} jobs | {running} running, {queued} queued | {duration_formatted}, ETA {eta_formatted}',
          stream: process.stderr,
          noTTYOutput: true, // in a log, a line every few seconds instead of a redrawn bar
          notTTYSchedule: 2000,
          hideCursor: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      )
      bar.start(inputs.length, 0, { running: 0, queued: 0 })
      const onProgress = (p: Progress): void => bar.update(p.done, { running: p.running, queued: p.queued })
      try {
        const results = await pool.map(inputs, { onProgress })
        bar.update(inputs.length, { running: 0, queued: 0 })
        bar.stop()
        await writeJsonLines(results, opts.output)
        process.stderr.write(`${results.length} results${opts.output === undefined ? '' : ` in ${opts.output}`}\n`)
      } finally {
        bar.stop()
      }
    })
}

async function readJsonLines(file: string): Promise<unknown[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new UsageError(`can't read --input ${file}: ${(err as Error).message}`)
  }
  const values: unknown[] = []
  text.split('\n').forEach((line, i) => {
    if (line.trim() !== '') values.push(parseJson(line, `line ${i + 1} of ${file}`))
  })
  return values
}

function parseJson(text: string | undefined, what: string): unknown {
  if (text === undefined) return undefined
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new UsageError(`${what} is not JSON: ${(err as Error).message}`)
  }
}

/** Writes one JSON line per result; Maps, Sets, BigInts and typed arrays become their JSON look-alikes. */
async function writeJsonLines(results: unknown[], file: string | undefined): Promise<void> {
  const out: NodeJS.WritableStream = file === undefined ? process.stdout : createWriteStream(file)
  for (const result of results) {
    if (!out.write(`${JSON.stringify(result, jsonReplacer)}\n`)) await once(out, 'drain')
  }
  if (out !== process.stdout) {
    out.end()
    await finished(out)
  }
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Map) return Object.fromEntries(value)
  if (value instanceof Set) return [...value]
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as Uint8Array)
  return value
}

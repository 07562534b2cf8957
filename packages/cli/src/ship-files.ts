import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { isAbsolute, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { COMMAND_WORKER } from '@meshpool/node'
import { UsageError } from './usage-error.js'

/** The most `--ship` sends in all: the files travel inside the shipped module, in one frame. */
const MAX_SHIPPED_BYTES = 64 * 1024 * 1024

/** As `commandWorkerWith` of the command worker takes them. */
interface ShippedFile {
  path: string
  mode: number
  base64: string
}

/** A worker module, written for this run, that holds the `--ship` files; `remove()` deletes it. */
export interface CommandModule {
  path: string
  remove(): Promise<void>
}

/**
 * Writes the worker module of `meshpool run --cmd … --ship FILE…`: the command
 * worker with the files inside it, so they are bundled, shipped and cached by
 * hash like any worker code, and each job's command runs in a folder that holds
 * them at the same relative paths as here (`cwd`).
 */
export async function commandModule(files: readonly string[], cwd = process.cwd()): Promise<CommandModule> {
  const shipped: ShippedFile[] = []
  let bytes = 0
  for (const name of files) {
    const full = resolve(cwd, name)
    const path = relative(cwd, full)
    if (path === '' || path.startsWith(`..${sep}`) || path === '..' || isAbsolute(path)) {
      throw new UsageError(
        `--ship ${name}: ship files in this folder or below it, named as the command names them (e.g. --ship score.py data/model.json)`,
      )
    }
    const info = await stat(full).catch((err: Error) => {
      throw new UsageError(`--ship ${name}: can't read it: ${err.message}`)
    })
    if (!info.isFile()) throw new UsageError(`--ship ${name} is not a file: list the files to ship (e.g. data/*.json)`)
    const data = await readFile(full)
    bytes += data.byteLength
    if (bytes > MAX_SHIPPED_BYTES) {
      throw new UsageError(
        `--ship sends at most ${MAX_SHIPPED_BYTES / 1024 / 1024} MiB in all: put big data where every node reads it, and name its path in the params`,
      )
    }
    shipped.push({ path: path.split(sep).join('/'), mode: info.mode & 0o777, base64: data.toString('base64') })
  }
  const hash = createHash('sha256').update(JSON.stringify(shipped)).digest('hex')
  const dir = await mkdtemp(join(tmpdir(), 'meshpool-run-'))
  const path = join(dir, 'shipped-command.mjs')
  await writeFile(
    path,
    `import { commandWorkerWith } from ${JSON.stringify(fileURLToPath(COMMAND_WORKER))}\n` +
      `export default commandWorkerWith(${JSON.stringify({ hash, files: shipped })}, import.meta.url)\n`,
  )
  return { path, remove: () => rm(dir, { recursive: true, force: true }) }
}

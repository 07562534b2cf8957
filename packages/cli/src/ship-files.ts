import { createHash, randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { isAbsolute, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { UsageError } from './usage-error.js'

/** The most `--ship` sends in all: the files travel inside the shipped module, in one frame. */
const MAX_SHIPPED_BYTES = 64 * 1024 * 1024

/** As `commandWorkerWith` of the command worker takes them. */
interface ShippedFile {
  path: string
  mode: number
  base64: string
}

/**
 * Writes the worker module of `meshpool run --cmd … --ship FILE…` and returns its
 * path (in the temp folder, named by its hash): the command
 * worker with the files inside it, so they are bundled, shipped and cached by
 * hash like any worker code, and each job's command runs in a folder that holds
 * them at the same relative paths as here (`cwd`).
 */
export async function commandModule(files: readonly string[], cwd = process.cwd()): Promise<string> {
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
  const { COMMAND_WORKER } = await import('@meshpool/node')
  const hash = createHash('sha256').update(JSON.stringify(shipped)).digest('hex')
  const text =
    `import { commandWorkerWith } from ${JSON.stringify(fileURLToPath(COMMAND_WORKER))}\n` +
    `export default commandWorkerWith(${JSON.stringify({ hash, files: shipped })}, import.meta.url)\n`
  // The same files give the same module at the same path, so the same bundle hash: nodes keep
  // the copy they cached. It stays in the temp folder, where another run may be loading it.
  const dir = join(tmpdir(), `meshpool-ship-${createHash('sha256').update(text).digest('hex').slice(0, 32)}`)
  const path = join(dir, 'shipped-command.mjs')
  if (!existsSync(path)) {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const temp = `${path}.${process.pid}.${randomUUID()}.tmp`
    await writeFile(temp, text, { mode: 0o600 })
    await rename(temp, path)
  }
  return path
}

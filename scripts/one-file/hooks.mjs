/**
 * What dist/meshpool.mjs (the one-file build, see scripts/build-dist.mjs) puts where meshpool
 * would otherwise start or load a file of its own: those files are not there,
 * so the one file plays each of them.
 */
import { createHash } from 'node:crypto'
import { lstatSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

/** The first argument that makes the one file a node's slot process. */
export const SLOT_ROLE = '--meshpool-role=slot'
/** The first argument that makes the one file a node that pool.launchWorkers() started. */
export const LAUNCHED_NODE_ROLE = '--meshpool-role=launched-node'

/**
 * The module `meshpool run --cmd` runs as its worker (slot/command-worker.js,
 * bundled on its own: it imports only Node's modules, so any slot can load it),
 * written once to a folder of this user's in the temp folder, and its URL. The
 * build replaces `__MESHPOOL_COMMAND_WORKER__` with its text.
 */
/** Where commandWorkerUrl wrote the command worker. */
let commandWorkerFile

export function commandWorkerUrl() {
  // The build defines it (esbuild define).
  const text = __MESHPOOL_COMMAND_WORKER__
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 32)
  const dir = join(tmpdir(), `meshpool-command-worker-${hash}-${process.getuid?.() ?? 'u'}`)
  try {
    mkdirSync(dir, { mode: 0o700 })
  } catch (err) {
    if (err.code !== 'EEXIST') throw err
  }
  const info = lstatSync(dir)
  // Another user could have made the folder first, to put code of theirs where our slots load it.
  if (!info.isDirectory() || (process.getuid !== undefined && info.uid !== process.getuid()) || info.mode & 0o077) {
    throw new Error(`${dir} is not a private folder of this user's: remove it, and run meshpool again`)
  }
  const file = join(dir, 'command-worker.mjs')
  if (readOrNothing(file) !== text) {
    const temp = `${file}.${process.pid}.tmp`
    writeFileSync(temp, text, { mode: 0o600 })
    renameSync(temp, file)
  }
  commandWorkerFile = file
  return pathToFileURL(file)
}

function readOrNothing(file) {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/**
 * esbuild, for shipping worker code: the one file leaves it out (it is a
 * native program per platform), so a client that ships code finds it in the
 * working directory's node_modules (or a parent's), as a package installed
 * there. Without it, only the command worker ships (`meshpool run --cmd`
 * without `--ship`): it is one file already, so it ships as it is.
 */
export async function importEsbuild() {
  let path
  try {
    path = createRequire(join(process.cwd(), 'package.json')).resolve('esbuild')
  } catch {
    return { build: shipCommandWorkerAsItIs }
  }
  const esbuild = await import(pathToFileURL(path).href)
  return esbuild.build === undefined ? esbuild.default : esbuild
}

/** The part of esbuild's build() that bundleWorker uses, for the command worker alone. */
async function shipCommandWorkerAsItIs(options) {
  if (commandWorkerFile === undefined || options.entryPoints[0] !== commandWorkerFile) {
    throw new Error(
      'shipping worker code needs esbuild, which the one-file meshpool leaves out: run `npm i esbuild` in this folder, or install the meshpool package (a head or a node needs neither)',
    )
  }
  return { outputFiles: [{ text: readFileSync(commandWorkerFile, 'utf8') }] }
}

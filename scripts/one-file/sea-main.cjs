/**
 * The main script of dist/meshpool, the single executable application (Node's
 * SEA; see scripts/build-dist.mjs). Node 22 runs a SEA's main script as
 * CommonJS, and meshpool is ES modules: so this writes the one file
 * (dist/meshpool.mjs, an asset of the executable) once to a private folder and
 * loads it with Node's own ES module loader. The processes meshpool starts
 * from its files (slots, launched nodes, a re-exec without the secret) run
 * this executable again with that file's path first: they go straight to it.
 */
const { createHash } = require('node:crypto')
const { lstatSync, mkdirSync, readFileSync, renameSync, writeFileSync } = require('node:fs')
const { tmpdir } = require('node:os')
const { join } = require('node:path')
const { getAsset } = require('node:sea')
const { pathToFileURL } = require('node:url')
const { setFlagsFromString } = require('node:v8')
const vm = require('node:vm')

const text = getAsset('meshpool.mjs', 'utf8')
const file = writeOnce(text)
// A SEA's argv is [executable, the name it was called by, …arguments]; Node parses no options of them.
let args = process.argv.slice(2)
const at = args.indexOf(file)
if (at >= 0 && args.slice(0, at).every((arg) => arg.startsWith('--'))) {
  // Started as `node [options] <file> …` would be: options (a slot's heap limit) go to V8 as far as they can now.
  for (const option of args.slice(0, at)) setFlagsFromString(option)
  args = args.slice(at + 1)
}
process.argv = [process.execPath, file, ...args]
quietLoaderWarning()
new vm.Script(`import(${JSON.stringify(pathToFileURL(file).href)})`, {
  filename: 'meshpool-sea-main.cjs',
  importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
})
  .runInThisContext()
  .catch((err) => {
    process.stderr.write(`meshpool: ${err?.stack ?? err}\n`)
    process.exit(1)
  })

/** Writes the one file into a folder of this user's (checked: no one else may put code there), unless it is there. */
function writeOnce(contents) {
  const hash = createHash('sha256').update(contents).digest('hex').slice(0, 32)
  const dir = join(tmpdir(), `meshpool-sea-${hash}-${process.getuid?.() ?? 'u'}`)
  try {
    mkdirSync(dir, { mode: 0o700 })
  } catch (err) {
    if (err.code !== 'EEXIST') throw err
  }
  const info = lstatSync(dir)
  if (!info.isDirectory() || (process.getuid !== undefined && info.uid !== process.getuid()) || info.mode & 0o077) {
    process.stderr.write(`meshpool: ${dir} is not a private folder of this user's: remove it, and run meshpool again\n`)
    process.exit(1)
  }
  const path = join(dir, 'meshpool.mjs')
  let current
  try {
    current = readFileSync(path, 'utf8')
  } catch {}
  if (current !== contents) {
    const temp = `${path}.${process.pid}.tmp`
    writeFileSync(temp, contents, { mode: 0o600 })
    renameSync(temp, path)
  }
  return path
}

/** Node 22 calls the loader this file uses experimental, and says so on every start: not news to a user. */
function quietLoaderWarning() {
  const emit = process.emitWarning
  process.emitWarning = (warning, ...rest) => {
    if (String(warning).includes('USE_MAIN_CONTEXT_DEFAULT_LOADER')) return
    return emit.call(process, warning, ...rest)
  }
}

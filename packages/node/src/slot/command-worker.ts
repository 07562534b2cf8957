import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { JobContext } from '../worker-types.js'

/** The most a command may print per job (stdout, then stderr kept for the error). */
const MAX_STDOUT_BYTES = 64 * 1024 * 1024
const STDERR_TAIL_BYTES = 4096

/**
 * The worker behind `meshpool run --cmd`: each job runs the command once in a
 * shell, with the job's params as JSON on its stdin, and its stdout, parsed as
 * JSON, is the result. So Python or R code runs on the mesh unchanged. A
 * command that exits non-zero fails the job with its exit code and the end of
 * its stderr; a cancel or time limit kills it.
 */
export default class CommandWorker {
  readonly #cmd: string
  /** Where the command runs: the folder of its shipped files, else the node's working directory. */
  protected cwd: string | undefined

  constructor(init: { cmd: string }) {
    if (typeof init?.cmd !== 'string' || init.cmd.trim() === '') {
      throw new TypeError('the command worker needs init.cmd, the command to run for each job')
    }
    this.#cmd = init.cmd
  }

  run(params: unknown, ctx: JobContext): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.#cmd, {
        shell: true,
        stdio: ['pipe', 'pipe', 'pipe'],
        ...(this.cwd === undefined ? {} : { cwd: this.cwd }),
      })
      const out: Buffer[] = []
      let outBytes = 0
      let err = Buffer.alloc(0)
      const abort = (): void => {
        child.kill('SIGKILL')
      }
      ctx.signal.addEventListener('abort', abort, { once: true })
      child.stdout.on('data', (chunk: Buffer) => {
        outBytes += chunk.byteLength
        if (outBytes > MAX_STDOUT_BYTES) {
          child.kill('SIGKILL')
          return
        }
        out.push(chunk)
      })
      child.stderr.on('data', (chunk: Buffer) => {
        err = Buffer.concat([err, chunk]).subarray(-STDERR_TAIL_BYTES)
      })
      child.stdin.on('error', () => {}) // a command that reads nothing closes its stdin early
      child.stdin.end(JSON.stringify(params ?? null))
      child.once('error', (e) => reject(new Error(`could not start \`${this.#cmd}\`: ${e.message}`)))
      child.once('close', (code, signal) => {
        ctx.signal.removeEventListener('abort', abort)
        if (ctx.signal.aborted) return reject(ctx.signal.reason)
        if (outBytes > MAX_STDOUT_BYTES)
          return reject(new Error(`\`${this.#cmd}\` printed over ${MAX_STDOUT_BYTES} bytes`))
        if (code !== 0) {
          const why = signal === null ? `exited with code ${code}` : `was killed by ${signal}`
          return reject(new Error(`\`${this.#cmd}\` ${why}${err.byteLength > 0 ? `: ${err.toString().trim()}` : ''}`))
        }
        const text = Buffer.concat(out).toString().trim()
        try {
          resolve(JSON.parse(text))
        } catch {
          reject(
            new Error(`\`${this.#cmd}\` printed something that is not JSON: ${JSON.stringify(text.slice(0, 200))}`),
          )
        }
      })
    })
  }
}

/** Where the command worker's module is, for createPool({ worker: COMMAND_WORKER, init: { cmd } }). */
export const COMMAND_WORKER = new URL('./command-worker.js', import.meta.url)

/** A file `meshpool run --cmd … --ship FILE` sends along: its path under the command's folder, mode and bytes. */
export interface ShippedFile {
  path: string
  mode: number
  base64: string
}

/**
 * The command worker of `--ship`: the files travel inside the (shipped) module,
 * and each node writes them once, into `files-<hash>` beside the module (in a
 * node's code cache, so beside the cached code), where the command then runs.
 * `moduleUrl` is the `import.meta.url` of the module that holds the files.
 */
export function commandWorkerWith(
  shipped: { hash: string; files: ShippedFile[] },
  moduleUrl: string,
): typeof CommandWorker {
  const folder = join(dirname(fileURLToPath(moduleUrl)), `files-${shipped.hash}`)
  return class ShippedCommandWorker extends CommandWorker {
    async setup(): Promise<void> {
      await writeFilesOnce(folder, shipped.files)
      this.cwd = folder
    }
  }
}

/** Writes the files into `folder` unless it is there already: into a temp folder first, then renamed, so no slot sees half. */
async function writeFilesOnce(folder: string, files: ShippedFile[]): Promise<void> {
  if (existsSync(folder)) return
  const temp = `${folder}.${process.pid}.${randomUUID()}.tmp`
  try {
    for (const file of files) {
      const target = join(temp, file.path)
      await mkdir(dirname(target), { recursive: true, mode: 0o700 })
      await writeFile(target, Buffer.from(file.base64, 'base64'), { mode: (file.mode & 0o700) | 0o600 })
    }
    await rename(temp, folder)
  } catch (err) {
    // Another slot of this node may have written the same folder first.
    if (!existsSync(folder)) throw err
  } finally {
    await rm(temp, { recursive: true, force: true })
  }
}

// The quick-start demo: a real head and two real nodes on this machine, each a
// `meshpool` process, and a pool in this process that runs a grid search over
// them with a progress bar. Run it with `pnpm demo` (it builds first).
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import cliProgress from 'cli-progress'
import { makeDataset } from '../examples/hyperparams/dataset.js'
import { createPool } from '../packages/cli/dist/index.js'

const CLI = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
const WORKER = new URL('../examples/hyperparams/worker.js', import.meta.url)
const READY_TIMEOUT_MS = 30_000
const EXIT_TIMEOUT_MS = 10_000

const dir = mkdtempSync(join(tmpdir(), 'meshpool-demo-'))
const children = []
// The head makes the pool's join token (no secret given); the nodes get it in their environment only.
let token

/** The environment without a pool secret of the caller's: the head must make its own token. */
function withoutSecrets(env) {
  const { MESHPOOL_TOKEN, MESHPOOL_PASSWORD, MESHPOOL_POOL_KEY_FILE, ...rest } = env
  return rest
}

/** Starts `meshpool <args>` and resolves with its output lines once it prints `ready`. */
function start(name, args) {
  const child = spawn(process.execPath, [CLI, ...args], {
    // Each node keeps its lock in a state folder of its own: several nodes on one machine are a demo's licence.
    env: {
      ...withoutSecrets(process.env),
      ...(token === undefined ? {} : { MESHPOOL_TOKEN: token }),
      MESHPOOL_STATE_DIR: mkdtempSync(join(dir, `${name}-`)),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: Ctrl-C reaches the demo alone, which then stops the children in order.
    detached: true,
  })
  children.push({ name, child })
  const lines = []
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (text) => {
    stderr += text
  })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} did not print "ready" within ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS,
    )
    let partial = ''
    child.stdout.setEncoding('utf8').on('data', (text) => {
      const parts = (partial + text).split('\n')
      partial = parts.pop()
      for (const line of parts) {
        lines.push(line)
        if (line.trim() !== '') console.log(`  [${name}] ${line}`)
        if (line === 'ready') {
          clearTimeout(timer)
          resolve(lines)
        }
      }
    })
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      reject(
        new Error(
          `${name} exited (${signal ?? `code ${code}`}) before it was ready${stderr === '' ? '' : `:\n${stderr.trim()}`}`,
        ),
      )
    })
  })
}

/** SIGTERM to every child still running, newest first (nodes before the head); SIGKILL after a grace period. */
async function stopChildren() {
  for (const { name, child } of children.toReversed()) {
    if (child.exitCode !== null || child.signalCode !== null) continue
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    const timer = setTimeout(() => {
      console.error(`  ${name} did not stop within ${EXIT_TIMEOUT_MS} ms; killing it`)
      child.kill('SIGKILL')
    }, EXIT_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
  }
}

// Last resort if the demo dies some other way: never leave a head or node behind.
process.on('exit', () => {
  for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
})

let pool
let bar
let interrupted = false
process.once('SIGINT', () => {
  interrupted = true
  bar?.stop() // shows the cursor again
  console.log('\ninterrupted: stopping the pool, the nodes and the head')
  pool?.close().catch(() => {})
  void stopChildren().finally(() => {
    rmSync(dir, { recursive: true, force: true })
    process.exit(130)
  })
})

try {
  console.log('starting a head (a pure coordinator: --no-work)')
  const headArgs = 'head --port 0 --host 127.0.0.1 --no-work --key-file'.split(' ')
  const headLines = await start('head', [...headArgs, join(dir, 'head.key')])
  const head = headLines.join('\n').match(/\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\w+/)?.[0]
  if (head === undefined) throw new Error('the head printed no 127.0.0.1 join address')
  token = headLines.join('\n').match(/MESHPOOL_TOKEN=(\S+) meshpool join/)?.[1]
  if (token === undefined) throw new Error('the head printed no join token')

  const names = new Map() // node peer id → name
  for (const name of ['node-a', 'node-b']) {
    console.log(`starting ${name}: meshpool join <head> --slots 1`)
    const lines = await start(name, ['join', head, '--slots', '1', '--name', name])
    const peerId = lines.join('\n').match(/^node (\S+) with/m)?.[1]
    if (peerId !== undefined) names.set(peerId, name)
  }

  const grid = []
  for (const features of [16, 24, 32, 48, 64])
    for (const gamma of [0.03, 0.1, 0.3, 1, 2, 3, 10, 30])
      for (const lambda of [1e-5, 1e-4, 1e-3, 1e-2, 0.1, 0.3, 1, 10]) grid.push({ features, gamma, lambda })

  pool = await createPool({ worker: WORKER, head, token })
  const data = await pool.share(makeDataset(42, 2000)) // sent once; each node fetches it once
  const jobs = grid.map((point) => ({ ...point, data }))
  console.log(
    `\npool open: ${await pool.workersCount()} slots on ${await pool.nodesCount()} nodes; ${grid.length} jobs\n`,
  )

  bar = new cliProgress.SingleBar(
    {
      format: '  {bar} {value}/{total} jobs | {running} running, {queued} queued | {rate} jobs/s | {duration}s',
      stream: process.stdout,
      noTTYOutput: true, // in a log, a line every second instead of a redrawn bar
      notTTYSchedule: 1000,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  )
  const started = performance.now()
  const rate = (done) => (done / Math.max((performance.now() - started) / 1000, 1e-3)).toFixed(0)
  bar.start(grid.length, 0, { rate: '0', running: 0, queued: 0 })
  const perNode = new Map()
  let best
  // onProgress: done, running (on a node) and queued (waiting for a slot), at most every 100 ms.
  const onProgress = (p) => bar.update(p.done, { rate: rate(p.done), running: p.running, queued: p.queued })
  for await (const r of pool.imapUnordered(jobs, { onProgress })) {
    const nodeId = r.slot.slice(0, r.slot.lastIndexOf('#'))
    perNode.set(nodeId, (perNode.get(nodeId) ?? 0) + 1)
    if (best === undefined || r.mse < best.mse) best = r
  }
  bar.update(grid.length, { rate: rate(grid.length), running: 0, queued: 0 })
  bar.stop()

  const seconds = (performance.now() - started) / 1000
  console.log(
    `${process.stdout.isTTY ? '\n' : ''}${grid.length} jobs in ${seconds.toFixed(1)} s (${rate(grid.length)} jobs/s)`,
  )
  const byName = [...perNode].map(([nodeId, count]) => [names.get(nodeId) ?? nodeId, nodeId, count]).sort()
  for (const [name, nodeId, count] of byName) console.log(`  ${name} ran ${count} jobs  (peer ${nodeId.slice(0, 16)}…)`)
  const { features, gamma, lambda } = best.params
  console.log(`best: features=${features} gamma=${gamma} lambda=${lambda}, validation mse ${best.mse.toFixed(5)}`)
} catch (err) {
  if (!interrupted) {
    console.error(`\ndemo failed: ${err?.stack ?? err}`)
    process.exitCode = 1
  }
} finally {
  if (!interrupted) {
    await pool?.close()
    console.log('\nstopping the nodes and the head')
    await stopChildren()
    rmSync(dir, { recursive: true, force: true })
  }
}

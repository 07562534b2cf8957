import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createPool } from 'meshpool'
import { afterEach, describe, expect, it } from 'vitest'
import { capture, PASSWORD, startHead, stopAll, WORKER, waitFor } from './harness.js'
import { alive, childPids, waitGone } from './proc-table.js'

afterEach(stopAll)

const LAUNCHER = fileURLToPath(new URL('./fixtures/launcher-client.js', import.meta.url))
/** "A few seconds": the launcher's jobs are cancelled by the head, so the nodes have nothing to drain. */
const GONE_WITHIN_MS = 10_000

/** The state folder launchWorkers made for a node, from its command line (its one JSON argument). */
function stateDirOf(pid: number): string {
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
  return (JSON.parse(args.find((a) => a.startsWith('{')) ?? '{}') as { stateDir: string }).stateDir
}

/**
 * Runs the launcher until it has launched two nodes with jobs running on them;
 * returns the nodes' pids, their slots' pids and their state folders.
 */
async function launcherWithNodes(head: string, end: 'wait' | 'throw') {
  const child = spawn(process.execPath, [LAUNCHER, JSON.stringify({ head, n: 2, end })], {
    env: { ...process.env, MESHPOOL_PASSWORD: PASSWORD },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const launcher = capture(child)
  const line = await launcher.waitForLine(/^launched( \d+)+$/, 60_000)
  const nodes = line.split(' ').slice(1).map(Number)
  const slots = nodes.flatMap((pid) => childPids(pid))
  const stateDirs = nodes.map(stateDirOf)
  expect(slots).toHaveLength(2)
  expect(stateDirs.every((dir) => existsSync(dir))).toBe(true)
  return { launcher, nodes, slots, stateDirs }
}

async function expectMeshEmpty(head: string): Promise<void> {
  await using pool = await createPool({ worker: WORKER, head, password: PASSWORD, output: 'ignore' })
  await waitFor(async () => (await pool.nodesCount()) === 0, GONE_WITHIN_MS, 'the launched nodes to leave the mesh')
}

describe('nodes from launchWorkers end with the process that launched them', () => {
  it('a launcher killed with SIGKILL mid-map: its nodes and their slots exit within seconds and leave the mesh', async () => {
    const head = await startHead({ noWork: true })
    const { launcher, nodes, slots, stateDirs } = await launcherWithNodes(head.address, 'wait')
    expect(nodes.every(alive)).toBe(true)

    launcher.child.kill('SIGKILL')
    expect(await launcher.exited).toBe('SIGKILL')
    const started = Date.now()
    expect(await waitGone([...nodes, ...slots], GONE_WITHIN_MS)).toEqual([])
    console.log(`launched nodes gone ${Date.now() - started} ms after the launcher's SIGKILL`)
    expect(stateDirs.filter((dir) => existsSync(dir))).toEqual([])
    await expectMeshEmpty(head.address)
  })

  it('a launcher that dies of an uncaught error: its nodes exit within seconds and leave the mesh', async () => {
    const head = await startHead({ noWork: true })
    const { launcher, nodes, slots, stateDirs } = await launcherWithNodes(head.address, 'throw')

    expect(await launcher.exited).toBe(1)
    expect(launcher.output()).toContain('Error: the launcher crashed')
    const started = Date.now()
    expect(await waitGone([...nodes, ...slots], GONE_WITHIN_MS)).toEqual([])
    console.log(`launched nodes gone ${Date.now() - started} ms after the launcher's uncaught error`)
    expect(stateDirs.filter((dir) => existsSync(dir))).toEqual([])
    await expectMeshEmpty(head.address)
  })
})

import { meshStatus, type NodeInfo, stopNodes } from '@meshpool/node'
import { Command } from 'commander'
import { type AccessFlags, readAccess, withAccessOptions } from './password.js'

export function statusCommand(): Command {
  const command = new Command('status')
    .description('show every node of a mesh: slots, GPUs, jobs done and failed, last heartbeat')
    .argument('<head-multiaddr>', 'the head, as `meshpool head` prints it')
    .option('--json', 'print JSON instead of a table')
  return withAccessOptions(command).action(async (head: string, opts: AccessFlags & { json?: boolean }) => {
    const status = await meshStatus({ head, ...readAccess(opts) })
    if (opts.json === true) {
      process.stdout.write(`${JSON.stringify(status, null, 2)}\n`)
      return
    }
    const slots = status.nodes.reduce((n, node) => n + node.slots.length, 0)
    const busy = status.nodes.reduce((n, node) => n + node.slots.filter((s) => s.state === 'busy').length, 0)
    process.stdout.write(
      `${status.nodes.length} node(s), ${slots} slot(s) (${busy} busy); jobs: ${status.queued} queued, ${status.leased} running\n`,
    )
    if (status.nodes.length > 0) process.stdout.write(`${table(status.nodes)}\n`)
  })
}

export function stopCommand(): Command {
  const command = new Command('stop')
    .description('ask nodes to finish their running jobs and leave the mesh')
    .argument('<head-multiaddr>', 'the head, as `meshpool head` prints it')
    .argument('<node-id...>', 'peer ids of the nodes, as `meshpool status` shows them')
  return withAccessOptions(command).action(async (head: string, nodeIds: string[], opts: AccessFlags) => {
    const stopping = await stopNodes({ head, nodeIds, ...readAccess(opts) })
    for (const id of nodeIds) {
      process.stdout.write(stopping.includes(id) ? `stopping ${id}\n` : `${id} is not a node of this mesh\n`)
    }
    if (stopping.length < nodeIds.length) process.exitCode = 1
  })
}

function table(nodes: NodeInfo[]): string {
  const now = Date.now()
  const rows = [
    ['NODE', 'NAME', 'SLOTS', 'DONE', 'FAILED', 'HEARTBEAT', 'ADDRESS'],
    ...nodes.map((node) => [
      node.nodeId,
      node.name,
      node.slots
        .map((s) => (s.gpu === undefined ? s.state : `${s.state} (GPU ${s.gpu.index} ${s.gpu.name})`))
        .join(', '),
      String(node.done),
      String(node.failed),
      `${((now - node.lastHeartbeat) / 1000).toFixed(1)} s ago`,
      node.addrs[0] ?? '-',
    ]),
  ]
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? []
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

import type { NodeInfo } from '@meshpool/core'
import { printable } from '@meshpool/core'
import type { MeshStatus } from '@meshpool/node/admin'
import { Command } from 'commander'
import { ADMIN_KEY_HELP, type AdminFlags, adminKeyOf } from './admin-flags.js'
import { pickNodes } from './node-names.js'
import { type AccessFlags, readAccess, withAccessOptions } from './password.js'

export function statusCommand(): Command {
  const command = new Command('status')
    .description('show every node of a mesh: slots, GPUs, jobs done and failed, last heartbeat')
    .argument('<head-multiaddr...>', 'the head, as `meshpool head` prints it (or every head of the mesh)')
    .option('--json', 'print JSON instead of a table')
  return withAccessOptions(command).action(async (heads: string[], opts: AccessFlags & { json?: boolean }) => {
    const { meshStatus } = await import('@meshpool/node/admin')
    const status = await meshStatus({ head: headList(heads), ...readAccess(opts) })
    if (opts.json === true) {
      process.stdout.write(`${jsonForTerminal(status)}\n`)
      return
    }
    const slots = status.nodes.reduce((n, node) => n + node.slots.length, 0)
    const busy = status.nodes.reduce((n, node) => n + node.slots.filter((s) => s.state === 'busy').length, 0)
    process.stdout.write(
      `${status.nodes.length} node(s), ${slots} slot(s) (${busy} busy); jobs: ${status.queued} queued, ${status.leased} running\n`,
    )
    if (status.heads !== undefined) process.stdout.write(`${printable(headsLine(status.heads))}\n`)
    if (status.nodes.length > 0) process.stdout.write(`${table(status.nodes)}\n`)
  })
}

export function stopCommand(): Command {
  const command = new Command('stop')
    .description('ask nodes to finish their running jobs and leave the mesh')
    .argument('<head-multiaddr>', 'the head, as `meshpool head` prints it (more heads: more addresses, or commas)')
    .argument('<node...>', 'the nodes: peer ids, or names that one node has, as `meshpool status` shows them')
    .option('--admin-key <file>', ADMIN_KEY_HELP)
  return withAccessOptions(command).action(async (first: string, words: string[], opts: AccessFlags & AdminFlags) => {
    const { meshStatus, stopNodes } = await import('@meshpool/node/admin')
    // Addresses start with a slash, peer ids and names don't: the leading ones are heads.
    const more = words.findIndex((word) => !word.startsWith('/'))
    const wanted = more < 0 ? [] : words.slice(more)
    const access = { head: headList([first, ...words.slice(0, more < 0 ? words.length : more)]), ...readAccess(opts) }
    const ids = pickNodes((await meshStatus(access)).nodes, wanted)
    const found = ids.filter((id): id is string => id !== undefined)
    const stopping = found.length === 0 ? [] : await stopNodes({ ...access, ...adminKeyOf(opts), nodeIds: found })
    wanted.forEach((word, i) => {
      const id = ids[i]
      const who = id === undefined || id === word ? word : `${word} (${id})`
      if (id !== undefined && stopping.includes(id)) process.stdout.write(`stopping ${who}\n`)
      else {
        process.stdout.write(`${who} is not a node of this mesh (no node has that peer id or name)\n`)
        process.exitCode = 1
      }
    })
  })
}

/** Which head is active, since when, and how many takeovers the mesh has had. */
function headsLine(heads: NonNullable<MeshStatus['heads']>): string {
  const since = new Date(heads.since).toISOString()
  const takeovers = `${heads.takeovers} takeover${heads.takeovers === 1 ? '' : 's'}`
  return heads.active
    ? `active head ${heads.peerId} since ${since}; ${takeovers}`
    : `head ${heads.peerId} is a standby since ${since} (active: ${heads.activePeer ?? 'none known'}); ${takeovers}`
}

/** Head addresses given as several arguments, or in one with commas. */
export function headList(args: string[]): string[] {
  return args.flatMap((arg) => arg.split(',')).filter((head) => head !== '')
}

function table(nodes: NodeInfo[]): string {
  const now = Date.now()
  const rows = [
    ['NODE', 'NAME', 'SLOTS', 'DONE', 'FAILED', 'HEARTBEAT', 'ADDRESS'],
    // Nodes name themselves (and their GPUs): what a node says is printed without terminal controls.
    ...nodes.map((node) =>
      [
        node.nodeId,
        node.name,
        node.slots
          .map((s) => (s.gpu === undefined ? s.state : `${s.state} (GPU ${s.gpu.index} ${s.gpu.name})`))
          .join(', '),
        String(node.done),
        String(node.failed),
        `${((now - node.lastHeartbeat) / 1000).toFixed(1)} s ago`,
        node.addrs[0] ?? '-',
      ].map(printable),
    ),
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

/**
 * JSON.stringify escapes C0 controls but writes DEL and C1 as they are, which a
 * terminal acts on: escaped here too, so the JSON says the same and prints safely.
 */
function jsonForTerminal(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[\x7f-\x9f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

// Case k of `pnpm bench`: many jobs that refer to one value given to pool.share().
// The value should cross the wire about once per node, not once per job: the
// bytes the client and the head write (sockets included, from /proc/<pid>/io)
// are set against the value's size times the nodes.
import { readFileSync } from 'node:fs'
import { dir, fmtInt, MiB, password, quick } from './config.js'
import { headAndTwoNodes, stop } from './lib.js'
import { openPool, warmOn } from './pools.js'
import { details, log, record, runCase } from './results.js'

export const SHARE = quick ? { bytes: 5 * MiB, jobs: 100 } : { bytes: 50 * MiB, jobs: 1_000 }
const NODES = 2

/** Bytes a process has written so far, sockets included. */
const written = (pid) => Number(/^wchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1])

export async function stageShared() {
  await runCase('k', `${fmtInt(SHARE.jobs)} jobs sharing one ${SHARE.bytes / MiB} MiB value`, 180_000, async () => {
    const procs = []
    let pool
    try {
      const { head, nodes } = await headAndTwoNodes(dir, 'share', password, procs)
      pool = await openPool(head)
      await warmOn(
        pool,
        nodes.map((node) => node.peerId),
      )
      const value = new Uint8Array(SHARE.bytes).fill(3)
      const client0 = written(process.pid)
      const head0 = written(head.child.pid)
      const t0 = performance.now()
      const ref = await pool.share(value)
      const lengths = await pool.map(Array.from({ length: SHARE.jobs }, () => ({ bytes: ref })))
      const seconds = (performance.now() - t0) / 1000
      if (!lengths.every((n) => n === SHARE.bytes)) throw new Error('a job did not see the whole shared value')
      const clientBytes = written(process.pid) - client0
      const headBytes = written(head.child.pid) - head0
      const once = SHARE.bytes * NODES
      record('k.clientRatio', clientBytes / once)
      record('k.headRatio', headBytes / once)
      record('k.seconds', seconds)
      details.k = { bytes: SHARE.bytes, jobs: SHARE.jobs, nodes: NODES, clientBytes, headBytes, seconds }
      log(
        `${seconds.toFixed(2)} s; the client wrote ${(clientBytes / MiB).toFixed(1)} MiB, the head ${(headBytes / MiB).toFixed(1)} MiB (the value × ${NODES} nodes: ${(once / MiB).toFixed(0)} MiB)`,
      )
    } finally {
      await pool?.close().catch(() => {})
      await stop(procs)
    }
  })
}

export const SHARE_ROWS = [
  {
    key: 'k.clientRatio',
    case: 'k',
    label: `${fmtInt(SHARE.jobs)} jobs sharing one ${SHARE.bytes / MiB} MiB value (${NODES} nodes): bytes the client sent ÷ (value × nodes)`,
    unit: '×',
    fmt: (v) => `${v.toFixed(2)} ×`,
    target: '≤ 1.2 ×',
    ok: (v) => v <= 1.2,
  },
  {
    key: 'k.headRatio',
    case: 'k',
    label: 'the same: bytes the head sent ÷ (value × nodes)',
    unit: '×',
    fmt: (v) => `${v.toFixed(2)} ×`,
  },
  {
    key: 'k.seconds',
    case: 'k',
    label: 'the same: share and map, end to end',
    unit: 's',
    fmt: (v) => `${v.toFixed(2)} s`,
  },
]

// The other stages of `pnpm bench`, each on processes of its own: c (raw libp2p
// peers, the baseline), g (a head holding queued jobs), h and e (many nodes in one
// process) and f (one big input, last).
import { join } from 'node:path'
import { dir, fmtInt, MiB, password, quick, RAW_WIDE_WINDOW, RAW_WINDOW, range, runs, SIZES } from './config.js'
import { BENCH_DIR, headAndTwoNodes, quantile, rssMB, sleep, start, startHead, stop } from './lib.js'
import { openPool, updateLatencies, warmOn } from './pools.js'
import { details, log, notes, record, runCase } from './results.js'

// ---------------------------------------------------------------------------- c: the raw limit

export async function caseRaw({ messages, bulk }) {
  const server = start('raw-server', [join(BENCH_DIR, 'raw-peer.js'), 'server'], { MESHPOOL_PASSWORD: password })
  try {
    const [, address] = await server.waitForLine(/^listening (\S+)$/)
    const options = {
      rrMs: messages ? SIZES.rawMs : 0,
      pipelinedMs: messages ? SIZES.rawMs : 0,
      window: RAW_WINDOW,
      wideWindow: RAW_WIDE_WINDOW,
      bulkBytes: bulk ? SIZES.bigBytes : 0,
    }
    const client = start('raw-client', [join(BENCH_DIR, 'raw-peer.js'), 'client', address, JSON.stringify(options)], {
      MESHPOOL_PASSWORD: password,
    })
    const [, json] = await client.waitForLine(/^result (.*)$/, 120_000)
    await stop([client])
    const raw = JSON.parse(json)
    details.raw = raw
    if (raw.requestResponse !== undefined) {
      record('c.rr', raw.requestResponse.perSecond)
      record('c.pipelined', raw.pipelined.perSecond)
      record('c.pipelinedWide', raw.pipelinedWide.perSecond)
      log(
        `request/response ${fmtInt(raw.requestResponse.perSecond)}/s; pipelined ${fmtInt(raw.pipelined.perSecond)}/s (${RAW_WINDOW} in flight), ${fmtInt(raw.pipelinedWide.perSecond)}/s (${RAW_WIDE_WINDOW})`,
      )
    }
    if (raw.bulk !== undefined) {
      record('f.raw', raw.bulk.mibPerSecond)
      log(`bulk ${(raw.bulk.bytes / MiB).toFixed(0)} MiB: ${raw.bulk.mibPerSecond.toFixed(1)} MiB/s`)
    }
  } finally {
    await stop([server])
  }
}

// ---------------------------------------------------------------------------- stage 2: g, a head holding queued jobs

export async function stageQueued() {
  await runCase('g', `head memory with ${fmtInt(SIZES.queued)} queued jobs`, quick ? 60_000 : 240_000, async () => {
    const procs = []
    try {
      const head = await startHead(join(dir, 'queue.key'), password)
      procs.push(head)
      await sleep(500)
      const idle = rssMB(head.pid)
      record('g.headIdle', idle)
      const client = start('queue-client', [join(BENCH_DIR, 'queue-client.js'), head.address, String(SIZES.queued)], {
        MESHPOOL_PASSWORD: password,
      })
      procs.push(client)
      let peak = idle
      const sampler = setInterval(() => {
        const mb = rssMB(head.pid)
        if (mb > peak) peak = mb
      }, 100)
      try {
        const [, ms, poolCount] = await client.waitForLine(
          /^queued \d+ in (\d+) ms over (\d+) pools$/,
          quick ? 55_000 : 230_000,
        )
        // The head has every job; let its heap settle, then read its resident memory.
        await sleep(1000)
        const held = rssMB(head.pid)
        record('g.headQueued', held)
        record('g.queueSeconds', Number(ms) / 1000)
        details.gQueued = {
          jobs: SIZES.queued,
          pools: Number(poolCount),
          headIdleMB: idle,
          headMB: held,
          headPeakMB: peak,
          queueMs: Number(ms),
          clientMB: rssMB(client.pid),
        }
        notes.push(
          `g: ${fmtInt(SIZES.queued)} jobs queued from one client process through ${poolCount} pool(s) of at most 250,000 (several clients, as many users would)`,
        )
        log(
          `queued ${fmtInt(SIZES.queued)} in ${(Number(ms) / 1000).toFixed(1)} s; head RSS ${idle.toFixed(0)} MB idle → ${held.toFixed(0)} MB (peak while queueing ${peak.toFixed(0)} MB)`,
        )
      } finally {
        clearInterval(sampler)
      }
    } finally {
      await stop(procs)
    }
  })
}

// ---------------------------------------------------------------------------- stage 3: h, many nodes

export async function stageManyNodes() {
  const n = SIZES.manyNodes
  if (runs('h')) await caseManyNodes(n)
  if (runs('e')) await caseWideUpdates()
}

async function caseManyNodes(n) {
  await runCase('h', `${n} nodes (1 slot each) in one process on one head`, quick ? 90_000 : 240_000, async () => {
    const procs = []
    let pool
    try {
      const mesh = await startManyNodes('many', n, procs)
      const { many, ms, retries, workers } = mesh
      pool = mesh.pool
      record('h.join', Number(ms))
      log(`${n} joinHead calls at once, all welcomed after ${ms} ms (${retries} retried)`)
      if (Number(retries) > 0) {
        notes.push(
          `h: ${retries} of the ${n} joins failed at first and were tried again (${many
            .output()
            .split('\n')
            .filter((line) => line.startsWith('retried after: '))
            .map((line) => line.slice('retried after: '.length))
            .join('; ')})`,
        )
      }
      const t0 = performance.now()
      const out = await pool.map(range(SIZES.manyJobs))
      const seconds = (performance.now() - t0) / 1000
      if (out.length !== SIZES.manyJobs) throw new Error('wrong results')
      record('h.rate', SIZES.manyJobs / seconds)
      // A node that lost the head is one the head saw leave (and join again): none should.
      const left = mesh.head.count(/^node \S+ \(\S+\) left/)
      record('h.drops', left)
      if (left > 0) notes.push(`h: ${left} node(s) lost the head and joined again during the case`)
      details.h = {
        nodes: n,
        joinMs: Number(ms),
        joinRetries: Number(retries),
        workers,
        jobs: SIZES.manyJobs,
        seconds,
        memoryMB: rssMB(many.pid),
      }
      log(
        `${fmtInt(SIZES.manyJobs)} jobs in ${seconds.toFixed(2)} s: ${fmtInt(SIZES.manyJobs / seconds)} jobs/s (${workers} slots)`,
      )
    } finally {
      await pool?.close().catch(() => {})
      await stop(procs, 5000)
    }
  })
}

async function caseWideUpdates() {
  const wide = SIZES.wideNodes
  await runCase('e', `updateWorkers → applied at every idle slot of ${wide} nodes`, 120_000, async () => {
    const procs = []
    let pool
    try {
      const mesh = await startManyNodes('wide', wide, procs)
      pool = mesh.pool
      await sleep(200)
      const { latencies } = await updateLatencies(pool, wide, SIZES.updates)
      record('e.p50wide', quantile(latencies, 0.5))
      record('e.p99wide', quantile(latencies, 0.99))
      details.eWide = { nodes: wide, updates: SIZES.updates, latenciesMs: latencies }
      log(`p50 ${quantile(latencies, 0.5).toFixed(2)} ms, p99 ${quantile(latencies, 0.99).toFixed(2)} ms`)
    } finally {
      await pool?.close().catch(() => {})
      await stop(procs, 5000)
    }
  })
}

/**
 * A fresh head and `n` light nodes (1 slot each) in one process (many-nodes.js), and
 * a pool whose worker every slot has loaded. The processes go into `procs`.
 */
async function startManyNodes(name, n, procs) {
  const head = await startHead(join(dir, `${name}.key`), password)
  procs.push(head)
  const many = start('many-nodes', [join(BENCH_DIR, 'many-nodes.js'), head.address, String(n)], {
    MESHPOOL_PASSWORD: password,
  })
  procs.push(many)
  const [, ms, retries] = await many.waitForLine(/^joined \d+ in (\d+) ms, (\d+) retries$/, 180_000)
  const pool = await openPool(head)
  const deadline = Date.now() + 30_000
  let workers = await pool.workersCount()
  while (workers < n && Date.now() < deadline) {
    await sleep(100)
    workers = await pool.workersCount()
  }
  if (workers < n) throw new Error(`only ${workers} of ${n} slots after 30 s`)
  // Every slot loads the worker on its first job: warm them all before timing.
  await pool.map(range(n * 20))
  return { head, many, ms, retries, pool, workers }
}

// ---------------------------------------------------------------------------- stage 4: f, a big input

/**
 * Last, on a mesh of its own: after a pnet chunk over 640 KiB, xsalsa20 (under
 * @libp2p/pnet) leaks WebAssembly memory on every further chunk until the process
 * dies (see bench/README.md), so a crash here must not take other cases down.
 */
/**
 * f, 1 GiB: the same with an input past the frame limit, while the head's RSS is
 * sampled: the input goes from the client to the node, not through the head.
 */
async function hugeInput(pool, head) {
  const huge = new Uint8Array(SIZES.hugeBytes).fill(2)
  const rssBefore = rssMB(head.pid)
  let rssMax = rssBefore
  const sampler = setInterval(() => {
    rssMax = Math.max(rssMax, rssMB(head.pid))
  }, 50)
  try {
    const t0 = performance.now()
    const length = await pool.submit({ bytes: huge })
    const seconds = (performance.now() - t0) / 1000
    if (length !== SIZES.hugeBytes) throw new Error(`the job saw ${length} bytes of ${SIZES.hugeBytes}`)
    record('f.hugeMeshpool', SIZES.hugeBytes / MiB / seconds)
    record('f.headRssGrowth', rssMax - rssBefore)
    details.fHuge = { bytes: SIZES.hugeBytes, seconds, headRssBeforeMB: rssBefore, headRssMaxMB: rssMax }
    log(
      `${SIZES.hugeBytes / MiB} MiB: ${seconds.toFixed(3)} s; head RSS ${rssBefore.toFixed(0)} → at most ${rssMax.toFixed(0)} MB`,
    )
  } finally {
    clearInterval(sampler)
  }
}

export async function stageBigInput() {
  await runCase('f', `one job with a ${SIZES.bigBytes / MiB} MiB input`, 180_000, async () => {
    // The raw stream first, in the same conditions.
    await caseRaw({ messages: false, bulk: true })
    const procs = []
    let pool
    try {
      const { head, nodes } = await headAndTwoNodes(dir, 'big', password, procs)
      pool = await openPool(head)
      await warmOn(
        pool,
        nodes.map((node) => node.peerId),
      )
      await pool.submit({ bytes: new Uint8Array(1024).fill(1) })
      const bytes = new Uint8Array(SIZES.bigBytes).fill(1)
      const t0 = performance.now()
      const length = await pool.submit({ bytes })
      const seconds = (performance.now() - t0) / 1000
      if (length !== SIZES.bigBytes) throw new Error(`the job saw ${length} bytes`)
      const rate = SIZES.bigBytes / MiB / seconds
      record('f.meshpool', rate)
      details.f = { bytes: SIZES.bigBytes, seconds }
      log(`${seconds.toFixed(3)} s: ${rate.toFixed(1)} MiB/s`)
      await hugeInput(pool, head)
    } finally {
      await pool?.close().catch(() => {})
      await stop(procs)
    }
  })
}

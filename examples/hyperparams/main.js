import { createPool } from 'meshpool'
import { makeDataset } from './dataset.js'

// Every combination of three hyperparameters: 75 jobs.
const grid = [16, 32, 64].flatMap((features) =>
  [0.1, 0.3, 1, 3, 10].flatMap((gamma) => [1e-4, 1e-3, 1e-2, 0.1, 1].map((lambda) => ({ features, gamma, lambda }))),
)

// No MESHPOOL_HEAD: an embedded head with local slots. With it: the same code on a mesh.
const pool = await createPool({
  worker: new URL('./worker.js', import.meta.url),
  ...(process.env.MESHPOOL_HEAD ? { head: process.env.MESHPOOL_HEAD } : {}),
})
try {
  // The dataset goes to the mesh once: every job refers to it, each node fetches it once.
  const data = await pool.share(makeDataset(42, 2000))
  const jobs = grid.map((point) => ({ ...point, data }))
  const show = ({ features, gamma, lambda }) => `features=${features} gamma=${gamma} lambda=${lambda}`
  let best
  let done = 0
  let beatKnown = 0
  const failed = []
  // settle: a job that fails (its run() threw, its slot kept dying, it timed out) is one
  // lost point of the grid, reported below; the search carries on with the others.
  for await (const outcome of pool.imapUnordered(jobs, { settle: true })) {
    done++
    if (!outcome.ok) {
      failed.push(outcome)
      console.log(`[${done}/${grid.length}] failed: ${show(grid[outcome.index])}: ${outcome.error.message}`)
      continue
    }
    const r = outcome.value
    if (r.beatKnown) beatKnown++
    if (best === undefined || r.mse < best.mse) {
      best = { params: r.params, mse: r.mse }
      await pool.updateWorkers({ best }) // every slot learns it between jobs
      console.log(`[${done}/${grid.length}] new best mse ${r.mse.toFixed(5)}: ${show(r.params)} (on ${r.slot})`)
    }
  }
  console.log(`${beatKnown} of ${grid.length} results beat the best their slot knew of`)
  console.log(`${failed.length} of ${grid.length} jobs failed`)
  if (best === undefined)
    process.exitCode = 1 // no job succeeded: nothing to report
  else console.log(`best: ${show(best.params)}, validation mse ${best.mse.toFixed(5)}`)
  console.log(`${await pool.workersCount()} slot(s) on ${await pool.nodesCount()} node(s)`)
} finally {
  await pool.close()
}

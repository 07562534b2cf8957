import { createPool } from 'meshpool'

// No head given: meshpool starts one in this process, with local slots.
// Pass { head } (with MESHPOOL_TOKEN set) to run the same code on a mesh.
const pool = await createPool({
  worker: new URL('./worker.js', import.meta.url),
  ...(process.env.MESHPOOL_HEAD ? { head: process.env.MESHPOOL_HEAD } : {}),
})
try {
  const inputs = Array.from({ length: 20 }, (_, i) => i)
  const results = await pool.map(inputs)
  console.log(results.map((r) => `${r.n}² = ${r.square}`).join(', '))
  console.log(`${await pool.workersCount()} slots on ${await pool.nodesCount()} node(s) ran them`)
} finally {
  await pool.close()
}

/**
 * @packageDocumentation
 *
 * meshpool: a peer-to-peer worker pool for Node.js. This package holds the
 * `meshpool` command and re-exports the public API, so `npm i meshpool`
 * gives both.
 *
 * @example
 * ```ts
 * import { createPool } from 'meshpool'
 *
 * const pool = await createPool({ worker: new URL('./squares.js', import.meta.url) })
 * try {
 *   console.log(await pool.map([1, 2, 3]))
 * } finally {
 *   await pool.close()
 * }
 * ```
 *
 * (`await using pool = …` closes it too, in TypeScript that compiles it down:
 * Node 22 itself does not parse `await using`.)
 */
export * from '@meshpool/node'

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
 * await using pool = await createPool({ worker: new URL('./squares.js', import.meta.url) })
 * console.log(await pool.map([1, 2, 3]))
 * ```
 */
export * from '@meshpool/node'

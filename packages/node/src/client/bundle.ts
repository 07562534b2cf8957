import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { WorkerLoadError } from '@meshpool/core'
import { codeHash } from '../net/code-hash.js'

/** A worker module bundled to ship: one ESM file, named by the sha-256 of its bytes. */
export interface ShippedCode {
  hash: string
  code: Uint8Array
}

/**
 * Bundles a worker module and what it imports by relative path into one ESM
 * file. Bare imports (packages, `node:` builtins) stay imports: each node
 * resolves them where it runs.
 */
export async function bundleWorker(path: string): Promise<ShippedCode> {
  let text: string
  try {
    const result = await (await import('esbuild')).build({
      entryPoints: [path],
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node22',
      packages: 'external',
      keepNames: true,
      // Remote stacks name the client's files: the map's sources resolve against the worker's folder.
      sourcemap: 'inline',
      sourcesContent: false,
      outfile: join(dirname(path), 'meshpool-shipped.mjs'),
      sourceRoot: `${pathToFileURL(dirname(path)).href}/`,
      write: false,
      logLevel: 'silent',
    })
    text = result.outputFiles[0]?.text ?? ''
  } catch (err) {
    const errors = (err as { errors?: Array<{ text: string; location?: { file: string; line: number } | null }> })
      .errors
    const first = errors?.[0]
    const where = first?.location == null ? '' : ` (${first.location.file}:${first.location.line})`
    throw new WorkerLoadError(
      `can't bundle the worker module ${path} to ship it: ${first?.text ?? (err as Error).message}${where}. ` +
        'Fix the module, or pass ship: false when every node has the code at the same path',
    )
  }
  const code = new TextEncoder().encode(text)
  return { hash: codeHash(code), code }
}

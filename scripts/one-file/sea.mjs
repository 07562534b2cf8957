/**
 * dist/meshpool: a copy of the Node that runs the build with the one file
 * (dist/meshpool.mjs) inside it as a single executable application (Node's
 * SEA), so a machine needs nothing else. sea-main.cjs is its main script.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The fuse Node's own builds carry for a SEA blob (Node's single-executable docs name it). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'

/** Writes the executable `out` holding the one file `mjs`. */
export async function buildSea(mjs, out) {
  const work = mkdtempSync(join(tmpdir(), 'meshpool-sea-build-'))
  try {
    const config = join(work, 'sea-config.json')
    const blob = join(work, 'sea.blob')
    writeFileSync(
      config,
      JSON.stringify({
        main: fileURLToPath(new URL('./sea-main.cjs', import.meta.url)),
        output: blob,
        disableExperimentalSEAWarning: true,
        assets: { 'meshpool.mjs': mjs },
      }),
    )
    execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: 'pipe' })
    copyFileSync(process.execPath, out)
    chmodSync(out, 0o755)
    // postject is the workspace's (a devDependency): it writes the blob into the copy's ELF, Mach-O or PE file.
    const { inject } = createRequire(import.meta.url)('postject')
    try {
      await inject(out, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE })
    } catch (err) {
      rmSync(out, { force: true })
      throw new Error(
        `can't make ${out} from ${process.execPath} (${err.message}): run the build with a Node from nodejs.org or the npm registry's node package, which can hold a SEA`,
      )
    }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

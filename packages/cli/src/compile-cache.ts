import { mkdirSync } from 'node:fs'
import { enableCompileCache } from 'node:module'
import { homedir } from 'node:os'
import { join } from 'node:path'

/**
 * Lets Node keep the compiled code of meshpool's modules between runs, in a
 * folder only this user can write (`$XDG_CACHE_HOME/meshpool/compile`, else
 * `~/.cache/…`): not Node's default in the shared temp folder, where another
 * user could leave code for this one to load. `meshpool status` starts in
 * 0.43 s with it, 0.54 s without (median of 15 runs against an idle head).
 * A folder that can't be made leaves things as they were; so does
 * NODE_DISABLE_COMPILE_CACHE=1.
 */
export function keepCompiledCode(): void {
  const cacheHome = process.env.XDG_CACHE_HOME?.startsWith('/') ? process.env.XDG_CACHE_HOME : join(homedir(), '.cache')
  const dir = join(cacheHome, 'meshpool', 'compile')
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  } catch {
    return
  }
  enableCompileCache(dir)
}

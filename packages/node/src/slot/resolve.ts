import module from 'node:module'
import { pathToFileURL } from 'node:url'

let installed = false

/** meshpool's own packages: a shipped worker may import them wherever the node runs. */
function isMeshpoolPackage(specifier: string): boolean {
  return specifier === 'meshpool' || specifier.startsWith('meshpool/') || specifier.startsWith('@meshpool/')
}

/** `lodash`, `@scope/pkg/sub`: not a relative path, an absolute path or a URL. */
function isBare(specifier: string): boolean {
  return !/^(\.|\/|[a-z][a-z0-9+.-]*:)/i.test(specifier)
}

/**
 * Lets a shipped worker bundle (cached in the node's state folder) import
 * packages the way a program started in the node's working directory would:
 * a bare import resolves from that directory (its `node_modules`, then its
 * parents'), and nowhere else, so "installed on the client's machine only"
 * shows up as a missing package here too, not only on the cluster. Only
 * meshpool's own packages also resolve from meshpool's install.
 */
export function resolvePackagesFromNode(bundleUrl: string): void {
  if (installed) return
  installed = true
  const registerHooks = (module as { registerHooks?: (hooks: object) => unknown }).registerHooks
  if (registerHooks === undefined) return // before Node 22.15: packages resolve from the bundle's folder only
  const workingDir = pathToFileURL(`${process.cwd()}/`).href
  const bundleDir = bundleUrl.slice(0, bundleUrl.lastIndexOf('/') + 1)
  type Resolve = (specifier: string, context: { parentURL?: string }) => unknown
  registerHooks({
    resolve(specifier: string, context: { parentURL?: string }, nextResolve: Resolve) {
      if (!isBare(specifier) || context.parentURL?.startsWith(bundleDir) !== true) {
        return nextResolve(specifier, context)
      }
      try {
        return nextResolve(specifier, { ...context, parentURL: workingDir })
      } catch (err) {
        if (!isMeshpoolPackage(specifier)) throw err
        return nextResolve(specifier, { ...context, parentURL: import.meta.url })
      }
    },
  })
}

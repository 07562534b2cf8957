import module from 'node:module'
import { pathToFileURL } from 'node:url'

let installed = false

/**
 * Lets a shipped worker bundle (cached in the node's state folder) import
 * packages: a bare import that doesn't resolve from the bundle's folder is
 * resolved from the node's working directory, then from meshpool's own
 * install (so `meshpool` itself is always found).
 */
export function resolvePackagesFromNode(bundleUrl: string): void {
  if (installed) return
  installed = true
  const registerHooks = (module as { registerHooks?: (hooks: object) => unknown }).registerHooks
  if (registerHooks === undefined) return // before Node 22.15: packages resolve from the bundle's folder only
  const bases = [pathToFileURL(`${process.cwd()}/`).href, import.meta.url]
  const bundleDir = bundleUrl.slice(0, bundleUrl.lastIndexOf('/') + 1)
  type Resolve = (specifier: string, context: { parentURL?: string }) => unknown
  registerHooks({
    resolve(specifier: string, context: { parentURL?: string }, nextResolve: Resolve) {
      try {
        return nextResolve(specifier, context)
      } catch (err) {
        const bare = !/^(\.|\/|[a-z][a-z0-9+.-]*:)/i.test(specifier)
        if (!bare || context.parentURL?.startsWith(bundleDir) !== true) throw err
        for (const parentURL of bases) {
          try {
            return nextResolve(specifier, { ...context, parentURL })
          } catch {}
        }
        throw err
      }
    },
  })
}

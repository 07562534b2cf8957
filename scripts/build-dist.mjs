/**
 * `pnpm build:dist` (after `pnpm build`): writes dist/meshpool.mjs, the whole
 * meshpool CLI in one file with its dependencies inside, for a machine that
 * has Node (22.12 or newer) and nothing else, and dist/meshpool, the same as a
 * single executable with the Node that runs this build inside (one-file/sea.mjs).
 * esbuild stays out: only a client that ships worker code needs it (see
 * one-file/hooks.mjs).
 *
 * meshpool starts some of its own files as processes (a node's slots, the
 * nodes launchWorkers starts) and loads one as a worker (`run --cmd`). In one
 * file those are not there, so the build rewrites the few lines that name
 * them (REWRITES): a start runs this same file with a role (one-file/entry.mjs),
 * and the command worker is written out when used. A rewrite that no longer
 * finds its line fails the build, naming it.
 */
import { chmodSync, mkdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildSea } from './one-file/sea.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const nodeDist = join(root, 'packages/node/dist')
const hooks = join(root, 'scripts/one-file/hooks.mjs')
const out = join(root, 'dist/meshpool.mjs')
// esbuild is a dependency of @meshpool/node, not of the workspace's root.
const esbuild = createRequire(join(root, 'packages/node/package.json'))('esbuild')

/** Per file of packages/node/dist: the text to find (exactly once) and what it becomes; `imports` go on top. */
const REWRITES = {
  'node/slot-process.js': {
    imports: 'SLOT_ROLE',
    edits: [
      ["new URL('../slot/main.js', import.meta.url)", 'import.meta.url'],
      ['fork(SLOT_MAIN, [],', 'fork(SLOT_MAIN, [SLOT_ROLE],'],
    ],
  },
  'client/launch.js': {
    imports: 'LAUNCHED_NODE_ROLE',
    edits: [
      ["new URL('../node/launched-main.js', import.meta.url)", 'import.meta.url'],
      ['[LAUNCHED_NODE, JSON.stringify(config)]', '[LAUNCHED_NODE, LAUNCHED_NODE_ROLE, JSON.stringify(config)]'],
    ],
  },
  'slot/command-worker.js': {
    imports: 'commandWorkerUrl',
    edits: [["new URL('./command-worker.js', import.meta.url)", 'commandWorkerUrl()']],
  },
  'client/bundle.js': {
    imports: 'importEsbuild',
    edits: [["import('esbuild')", 'importEsbuild()']],
  },
}

/** An esbuild plugin that applies `rewrites` ({ file: { imports, edits } }, files relative to packages/node/dist). */
function rewriting(rewrites) {
  return {
    name: 'meshpool-one-file',
    setup(build) {
      build.onLoad({ filter: /packages[\\/]node[\\/]dist[\\/].*\.js$/ }, async (args) => {
        const name = args.path
          .slice(nodeDist.length + 1)
          .split('\\')
          .join('/')
        const rewrite = rewrites[name]
        if (rewrite === undefined) return undefined
        const { readFile } = await import('node:fs/promises')
        let text = await readFile(args.path, 'utf8')
        for (const [from, to] of rewrite.edits) {
          const count = text.split(from).length - 1
          if (count !== 1) {
            throw new Error(
              `packages/node/src/${name.replace(/\.js$/, '.ts')} has ${count} of \`${from}\`, where the one-file build expects one: update REWRITES in scripts/build-dist.mjs`,
            )
          }
          text = text.replace(from, to)
        }
        if (rewrite.imports !== undefined) text = `import { ${rewrite.imports} } from ${JSON.stringify(hooks)}\n${text}`
        return { contents: text, loader: 'js', resolveDir: dirname(args.path) }
      })
    },
  }
}

const common = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node22.12',
  logLevel: 'warning',
  legalComments: 'none',
}

// The command worker alone (Node's modules only), as `meshpool run --cmd` writes it out.
const commandWorker = await esbuild.build({
  ...common,
  entryPoints: [join(nodeDist, 'slot/command-worker.js')],
  write: false,
  plugins: [
    rewriting({
      'slot/command-worker.js': {
        edits: [["new URL('./command-worker.js', import.meta.url)", 'new URL(import.meta.url)']],
      },
    }),
  ],
})

mkdirSync(dirname(out), { recursive: true })
await esbuild.build({
  ...common,
  entryPoints: [join(root, 'scripts/one-file/entry.mjs')],
  outfile: out,
  external: ['esbuild'],
  define: { __MESHPOOL_COMMAND_WORKER__: JSON.stringify(commandWorker.outputFiles[0].text) },
  // Bundled CommonJS packages call require() for Node's own modules.
  banner: {
    js: "import { createRequire as __meshpoolRequire } from 'node:module'\nconst require = __meshpoolRequire(import.meta.url)",
  },
  plugins: [rewriting(REWRITES)],
})
chmodSync(out, 0o755)
const sea = join(root, 'dist/meshpool')
await buildSea(out, sea)
for (const file of [out, sea]) console.log(`wrote ${file} (${(statSync(file).size / 1024 / 1024).toFixed(1)} MiB)`)

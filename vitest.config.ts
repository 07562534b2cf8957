import { defineConfig } from 'vitest/config'

// Tests import packages by name (`@meshpool/core`, `meshpool`), which resolve to
// their built `dist/` through the workspace: `pnpm test` builds first.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          // Real processes on a small machine: one file at a time.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
})

#!/usr/bin/env node
/**
 * The entry of dist/meshpool.mjs (see scripts/build-dist.mjs): the whole CLI, and also the
 * programs meshpool starts from files of its own, which the one file does not
 * have beside it. The build points those starts back at this file with a role
 * as the first argument, which is taken off before the role's code runs.
 */
import { LAUNCHED_NODE_ROLE, SLOT_ROLE } from './hooks.mjs'

const role = process.argv[2]
if (role === SLOT_ROLE || role === LAUNCHED_NODE_ROLE) process.argv.splice(2, 1)
if (role === SLOT_ROLE) await import('../../packages/node/dist/slot/main.js')
else if (role === LAUNCHED_NODE_ROLE) await import('../../packages/node/dist/node/launched-main.js')
else await import('../../packages/cli/dist/bin.js')

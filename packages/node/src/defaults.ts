// The defaults the CLI shows in its help and its generators name, in a module of
// their own: importing them loads neither the head nor the node (about 0.5 s of
// libp2p), so `meshpool status`, `--help` and the generators start fast.
import { homedir } from 'node:os'
import { join } from 'node:path'

/** The port a head listens on unless told. */
export const DEFAULT_HEAD_PORT = 8899
/** Where a head keeps its identity unless told otherwise. */
export const DEFAULT_HEAD_KEY_FILE = join(homedir(), '.meshpool', 'head.key')
/** How long a stopping node lets its running jobs finish. @default 30000 */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000

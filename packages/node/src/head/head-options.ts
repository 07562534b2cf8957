import type { PoolAccess } from '../net/psk.js'
import type { GpuInfo } from '../worker-types.js'
import type { HeadStats, NodeEvent } from './head-types.js'
import type { HeadsView } from './standby.js'

export { DEFAULT_HEAD_KEY_FILE, DEFAULT_HEAD_PORT } from '../defaults.js'

export interface HeadInit extends PoolAccess {
  /** @default 8899 */
  port?: number
  /** @default '0.0.0.0' (all interfaces) */
  host?: string
  /** The identity file; its key keeps the join address across restarts. @default ~/.meshpool/head.key */
  keyFile?: string
  /** Local slots; 0 for a pure coordinator. @default cores minus one, at least one */
  slots?: number
  /** One local slot per GPU listed (see `planSlots`), instead of CPU slots. */
  gpus?: GpuInfo[]
  /**
   * Local slots run as this user (needs root), so shipped code can read neither the
   * head's key files nor its /proc entries. @default the head's own user
   */
  slotUser?: string
  maxAttempts?: number
  /** Told when a node joins or leaves. */
  onNodeEvent?: (event: NodeEvent) => void
  /** The head's log of its local slots: what their workers print, and notes about pools. */
  onLine?: (line: string) => void
  /** Bytes of updates each pool's log keeps for nodes that join late; older ones are dropped. @default 64 MiB */
  updateLogBytes?: number
  /** A file of peer ids, one per line: only these may join as nodes or connect as clients (each with its own identity file). */
  allowPeersFile?: string
  /** Most jobs one client may have open; a client holds back the rest until results come. @default 1,000,000 */
  maxOpenJobsPerClient?: number
  /** Serve Prometheus metrics at http://<host>:<port>/metrics (0: a free port); none by default. */
  metricsPort?: number
  /** Serve the dashboard, a live web page, at http://<host>:<port>/ (0: a free port); none by default. */
  dashboardPort?: number
  /** Where the metrics listen. @default '127.0.0.1' (this machine only) */
  metricsHost?: string
  /** Where the dashboard listens. @default '127.0.0.1' (this machine only) */
  dashboardHost?: string
  /** When set, the metrics and the dashboard answer only requests that carry it (`?token=` or a Bearer header). */
  webToken?: string
  /**
   * Start as the standby of the head at this address (see "Running two heads" in the README):
   * it takes no jobs while that head answers, and takes over when it stops answering.
   */
  standby?: string
}

export interface RunningHead {
  peerId: string
  /** Addresses nodes can join, best first (never 0.0.0.0). */
  addresses: string[]
  /** The join command, with the token when the head has one. */
  joinCommand: string
  /** The pool's join token, when the head was started with none of its own (or with this one). */
  token?: string
  /** The head's admin key file (what `meshpool revoke` / `stop --admin-key` need), unless it could not be written. */
  adminKeyFile?: string
  /** Where `/metrics` is served, with metricsPort. */
  metricsUrl?: string
  /** Where the dashboard is served, with dashboardPort. */
  dashboardUrl?: string
  stats(): HeadStats
  /** Whether this head is the active one of its mesh, since when, and the takeovers it knows of. */
  heads(): HeadsView
  stop(): Promise<void>
}

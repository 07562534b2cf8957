import type { InitOf, WorkerClass } from '../worker-types.js'

/** Every option of `createPool` but `init`, whose type comes from the worker class. */
export interface PoolSettings {
  /** The worker module: a file URL or a path (relative paths resolve against the working directory). */
  worker: URL | string
  /**
   * The head's multiaddr; or every head of a mesh with a standby (a list, or one string with commas),
   * the primary first. Omitted: an embedded head with local slots in this process.
   */
  head?: string | string[]
  /** The join token `meshpool head` prints: the pool's secret, 256 random bits (the default way in). @default process.env.MESHPOOL_TOKEN */
  token?: string
  /** The pool password, instead of a token (a head started with one). @default process.env.MESHPOOL_PASSWORD */
  password?: string
  /** A pool key file written by `meshpool keygen`, instead of a password. @default process.env.MESHPOOL_POOL_KEY_FILE */
  poolKeyFile?: string
  /** The pool's name, if the head was given one: it salts the key. @default process.env.MESHPOOL_POOL_NAME */
  poolName?: string
  /**
   * The head's admin key file (the admin.key it wrote beside its key file): what
   * `pool.revoke()` and `pool.stopWorkers(ids)` of nodes it did not launch need.
   * @default process.env.MESHPOOL_ADMIN_KEY_FILE
   */
  adminKeyFile?: string
  /**
   * This client's identity (created there if missing), so a head with
   * `--allow-peers` can list its peer id. @default process.env.MESHPOOL_CLIENT_KEY_FILE, else ~/.meshpool/client.key if it exists, else a new peer id each run
   */
  identityFile?: string
  /** Local slots of an embedded head. @default cores minus one, at least one */
  slots?: number
  /** Jobs a call keeps in flight before it waits for results. @default 4096 */
  window?: number
  /** Attempts before a job whose slot or node keeps dying fails with WorkerLostError. @default 3 */
  maxAttempts?: number
  /** Retries of a job whose run() threw, with backoff. @default 0 */
  retries?: number
  /** Run time limit of each job in ms (calls may set their own). @default none */
  timeoutMs?: number
  /** How long a node's lease on a job lasts without a heartbeat. @default 3000 */
  leaseMs?: number
  /**
   * A slot process that has run this many jobs is replaced (its worker
   * disposed, a fresh process and instance in its place) before it takes
   * another: long GPU runs that leak memory stay healthy. @default unlimited
   */
  maxJobsPerSlot?: number
  /**
   * How large a share of the mesh's slots this pool gets while several pools
   * have jobs waiting: shares weigh 2^priority, so a pool of priority 1 gets
   * twice the slots of one of priority 0, and one of -1 half. From -10 to 10. @default 0
   */
  priority?: number
  /**
   * Bundle the worker module (esbuild; package imports stay imports) and ship
   * it to the nodes, which cache it by hash. false: every node loads `worker`
   * from the same path. Only a remote head uses it. @default true
   */
  ship?: boolean
  /**
   * Where the workers' output goes (stdout, stderr and console of every slot
   * running this pool's jobs, each line prefixed with its node and slot):
   * this process's stderr, nowhere, or a function of each line. @default 'inherit'
   */
  output?: 'inherit' | 'ignore' | ((line: string) => void)
  /** How long to keep trying to reach a head that went away before open calls fail. @default 60000 */
  reconnectTimeoutMs?: number
  /**
   * Where this client listens (TCP multiaddrs) for nodes fetching its jobs' params of
   * 1 MiB or more straight from it; false: nodes fetch them through the head. Only a
   * remote head uses it. @default where the head is reached: loopback for a head on
   * loopback, else every interface (/ip4/0.0.0.0/tcp/0)
   */
  listen?: string | string[] | false
}

/**
 * `init`, passed to the worker's constructor in every slot: required when the
 * constructor's first parameter is (so `createPool<typeof Trainer>({ worker })`
 * does not compile when Trainer needs its init), optional otherwise.
 */
export type InitOption<W extends WorkerClass> =
  undefined extends InitOf<W>
    ? { /** Passed to the worker's constructor in every slot. */ init?: InitOf<W> }
    : { /** Passed to the worker's constructor in every slot (its constructor requires it). */ init: InitOf<W> }

/** The options of `createPool`; see the README's table for what each does. */
export type PoolOptions<W extends WorkerClass = WorkerClass> = PoolSettings & InitOption<W>

/** Every key `createPool` takes: a key that is not here is refused at the call. */
export const POOL_OPTION_KEYS = Object.keys({
  worker: true,
  init: true,
  head: true,
  token: true,
  password: true,
  poolKeyFile: true,
  poolName: true,
  adminKeyFile: true,
  identityFile: true,
  slots: true,
  window: true,
  maxAttempts: true,
  retries: true,
  timeoutMs: true,
  leaseMs: true,
  maxJobsPerSlot: true,
  priority: true,
  ship: true,
  output: true,
  reconnectTimeoutMs: true,
  listen: true,
} satisfies Record<keyof PoolSettings | 'init', true>)

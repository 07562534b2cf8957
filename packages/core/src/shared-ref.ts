/** The CBOR tag a {@link SharedRef} travels as inside params: its hash, nothing more. */
export const SHARED_REF_TAG = 40_817

/** Most bytes of shared values one head holds for all its pools together (2 GiB). */
export const MAX_SHARED_BYTES = 2 * 1024 * 1024 * 1024

/**
 * A handle to a value given to `pool.share(value)`: put it anywhere inside a
 * job's params and the worker's `run()` sees the value itself there. The value
 * crosses the wire once to the head and about once to each node (nodes fetch it
 * from the head or from nodes that have it), not once per job. A slot decodes
 * it once and hands the same object to every job: treat it as read-only.
 */
export class SharedRef<T = unknown> {
  /** The sha-256 (hex) of the value's encoded bytes. */
  readonly hash: string
  /** The size of the value's encoded bytes. */
  readonly bytes: number
  /** Only for the type: what `run()` sees in its place. */
  declare readonly value?: T

  constructor(hash: string, bytes: number) {
    this.hash = hash
    this.bytes = bytes
  }
}

/** Whether a hash a peer sent can name a shared value (64 hex digits). */
export function isSharedHash(hash: unknown): hash is string {
  return typeof hash === 'string' && /^[0-9a-f]{64}$/.test(hash)
}

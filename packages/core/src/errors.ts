/**
 * Every failure a caller can meet has its own class with a stable `name`, so
 * callers (and tests) can branch on `err.name` across processes and versions.
 */

export interface ErrorShape {
  name: string
  message: string
  stack?: string
}

/** `run()` threw on a remote slot. Keeps the remote name, message and stack. */
export class RemoteJobError extends Error {
  static override readonly name = 'RemoteJobError'
  override readonly name = 'RemoteJobError'
  /** The `name` of the error the worker threw, e.g. `TypeError`. */
  readonly remoteName: string
  /** The stack as it was printed in the slot process. */
  readonly remoteStack: string | undefined

  constructor(remote: ErrorShape, where = '') {
    super(`${remote.name}: ${remote.message}${where === '' ? '' : ` (on ${where})`}`)
    this.remoteName = remote.name
    this.remoteStack = remote.stack
    if (remote.stack !== undefined) {
      this.stack = `${this.name}: ${this.message}\n    --- remote stack ---\n${remote.stack}`
    }
  }
}

/** The job's slot or node died `maxAttempts` times. */
export class WorkerLostError extends Error {
  static override readonly name = 'WorkerLostError'
  override readonly name = 'WorkerLostError'
  constructor(message = 'the worker running this job was lost too many times') {
    super(message)
  }
}

/** A job or call ran past its `timeoutMs`. */
export class TimeoutError extends Error {
  static override readonly name = 'TimeoutError'
  override readonly name = 'TimeoutError'
  constructor(message = 'the job did not finish within its timeoutMs') {
    super(message)
  }
}

/** The caller's `signal` aborted the call. */
export class AbortError extends Error {
  static override readonly name = 'AbortError'
  override readonly name = 'AbortError'
  constructor(message = 'the call was aborted by its signal') {
    super(message)
  }
}

/** An option passed to meshpool is missing, of the wrong type or out of range. */
export class InvalidOptionError extends Error {
  static override readonly name = 'InvalidOptionError'
  override readonly name = 'InvalidOptionError'
}

/** A value (init, params, result, update) cannot cross the network. */
export class UnsendableValueError extends Error {
  static override readonly name = 'UnsendableValueError'
  override readonly name = 'UnsendableValueError'
}

/** A frame on the wire is too large, truncated, or not a meshpool message. */
export class FrameError extends Error {
  static override readonly name = 'FrameError'
  override readonly name = 'FrameError'
}

/** The head refused the encrypted handshake: almost always a wrong password. */
export class HandshakeRefusedError extends Error {
  static override readonly name = 'HandshakeRefusedError'
  override readonly name = 'HandshakeRefusedError'
}

/** The head will not have this node: it was revoked, or is not in the head's --allow-peers list. */
export class NodeRefusedError extends Error {
  static override readonly name = 'NodeRefusedError'
  override readonly name = 'NodeRefusedError'
}

/** The head refused a revoke or a stop: no admin key or the wrong one, or a peer that can't be revoked (the head itself). */
export class AdminRefusedError extends Error {
  static override readonly name = 'AdminRefusedError'
  override readonly name = 'AdminRefusedError'
}

/** Nothing answers at the head's address. */
export class HeadUnreachableError extends Error {
  static override readonly name = 'HeadUnreachableError'
  override readonly name = 'HeadUnreachableError'
}

/** Something answered, but it does not speak meshpool's protocols. */
export class NotAHeadError extends Error {
  static override readonly name = 'NotAHeadError'
  override readonly name = 'NotAHeadError'
}

/** The pool (or the connection to its head) is closed. */
export class PoolClosedError extends Error {
  static override readonly name = 'PoolClosedError'
  override readonly name = 'PoolClosedError'
  constructor(message = 'the pool is closed') {
    super(message)
  }
}

/** The worker module could not be loaded or constructed in a slot. */
export class WorkerLoadError extends Error {
  static override readonly name = 'WorkerLoadError'
  override readonly name = 'WorkerLoadError'
}

/**
 * A shared value a job's params refer to can't be had: it was unshared, its
 * pool closed, the head holds too many already, or no copy arrived whole.
 */
export class SharedValueError extends Error {
  static override readonly name = 'SharedValueError'
  override readonly name = 'SharedValueError'
}

/** Turns anything thrown into a plain shape that can cross the wire. */
export function errorShape(err: unknown): ErrorShape {
  if (err instanceof Error) {
    return { name: err.name, message: err.message, ...(err.stack === undefined ? {} : { stack: err.stack }) }
  }
  return { name: 'Error', message: `a non-Error value was thrown: ${String(err)}` }
}

const known: Record<string, new (message?: string) => Error> = {
  WorkerLostError,
  TimeoutError,
  AbortError,
  InvalidOptionError,
  UnsendableValueError,
  FrameError,
  PoolClosedError,
  WorkerLoadError,
  SharedValueError,
}

/** Rebuilds one of meshpool's own errors from its wire shape (name and message). */
export function errorFromShape(shape: ErrorShape): Error {
  // The name comes from a peer: `constructor` or `toString` must not reach Object.prototype.
  const Known = Object.hasOwn(known, shape.name) ? known[shape.name] : undefined
  if (Known !== undefined) return new Known(shape.message)
  const err = new Error(shape.message)
  err.name = shape.name
  return err
}

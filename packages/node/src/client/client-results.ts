import {
  type BlobRef,
  FrameError,
  inbound,
  MAX_BLOB_VALUE_BYTES,
  MAX_FRAME_BYTES,
  RESULT_PROTOCOL,
  type ResultAck,
  type ResultPart,
  ValueAssembly,
} from '@meshpool/core'
import { codeHash } from '../net/code-hash.js'
import { serveFetches } from '../net/fetch-server.js'
import { STREAMS_PER_CONNECTION } from '../net/limits.js'
import type { DialingPeer } from '../net/peer.js'

/** The most bytes of big results a client holds that no job's outcome has claimed yet. */
export const MAX_UNCLAIMED_RESULT_BYTES = 4 * 1024 * 1024 * 1024
/**
 * A result no outcome claimed this long after it came is dropped: its node died before
 * it reported the job (which ran again), or a member pushed it and no job names it.
 */
const UNCLAIMED_MS = 10 * 60_000

interface Held {
  data: Uint8Array
  /** Deliveries not yet claimed by a job's outcome (two jobs may have equal results). */
  count: number
  /** When the last came. */
  at: number
}

/**
 * The big results nodes hand this client (see BlobRef) before they report
 * their jobs done: each is checked against its hash, kept until the job's
 * outcome claims it, and refused while the client has no open job or holds
 * MAX_UNCLAIMED_RESULT_BYTES already.
 */
export class ClientResults {
  readonly #held = new Map<string, Held>()
  readonly #open: () => boolean
  #bytes = 0

  /** `open`: whether the client has open jobs (none: no result is due). */
  constructor(open: () => boolean) {
    this.#open = open
  }

  /** Serves RESULT_PROTOCOL: one result per stream, answered `got` once it is whole and checked. */
  async serve(peer: Pick<DialingPeer, 'handle'>): Promise<void> {
    await serveFetches<ResultPart, ResultAck>(peer, {
      protocol: RESULT_PROTOCOL,
      accepted: inbound.resultPart,
      maxInboundStreams: STREAMS_PER_CONNECTION.result,
      maxFrameBytes: MAX_FRAME_BYTES,
      isFetch: () => false,
      open: (send, _connection, close) => {
        let assembly: ValueAssembly | undefined
        let hash: string | undefined
        return {
          message: (part) => {
            if (hash !== undefined && part.hash !== hash) return close(new FrameError('one result per stream'))
            hash = part.hash
            if (part.offset === undefined || part.offset === 0) {
              const refusal = this.#refusal(part.total ?? part.data.byteLength)
              if (refusal !== undefined) return send({ type: 'refused', hash: part.hash, message: refusal })
              // A result in one frame is kept as it came; one in parts is put together.
              if (part.total !== undefined) assembly = new ValueAssembly(part.total, MAX_BLOB_VALUE_BYTES)
            } else if (assembly === undefined) {
              return close(new FrameError('a part of a result came before its first part'))
            }
            const data =
              part.total === undefined
                ? part.data
                : assembly?.add({ data: part.data, offset: part.offset ?? 0, total: part.total })
            if (data === undefined) return
            assembly = undefined
            if (codeHash(data) !== part.hash) {
              return send({ type: 'refused', hash: part.hash, message: 'the bytes do not match their hash' })
            }
            this.#keep(part.hash, data)
            send({ type: 'got', hash: part.hash })
          },
        }
      },
    })
  }

  /** The result a job's outcome names, taken out of the client. */
  take(ref: BlobRef): Uint8Array | undefined {
    const held = this.#held.get(ref.hash)
    if (held === undefined || held.data.byteLength !== ref.bytes) return undefined
    if (--held.count === 0) {
      this.#held.delete(ref.hash)
      this.#bytes -= held.data.byteLength
    }
    return held.data
  }

  /** The pool closed: nothing more is claimed. */
  clear(): void {
    this.#held.clear()
    this.#bytes = 0
  }

  #refusal(bytes: number): string | undefined {
    if (!this.#open()) return 'this client has no open job'
    const stale = Date.now() - UNCLAIMED_MS
    for (const [hash, held] of this.#held) {
      if (held.at >= stale) continue
      this.#held.delete(hash)
      this.#bytes -= held.data.byteLength
    }
    if (this.#bytes + bytes > MAX_UNCLAIMED_RESULT_BYTES) {
      return `this client holds ${this.#bytes} bytes of results no outcome has claimed yet; try again later`
    }
    return undefined
  }

  #keep(hash: string, data: Uint8Array): void {
    const held = this.#held.get(hash)
    if (held !== undefined) {
      held.count++
      held.at = Date.now()
      return
    }
    this.#held.set(hash, { data, count: 1, at: Date.now() })
    this.#bytes += data.byteLength
  }
}

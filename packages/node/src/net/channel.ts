import type { Stream } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { pipe } from '@libp2p/utils'
import {
  checkFrameStart,
  decodeFrame,
  encodeFramePieces,
  FRAME_START_BYTES,
  FrameError,
  MAX_FRAME_BYTES,
} from '@meshpool/core'
import * as varint from 'uint8-varint'
import { FrameReader } from './frame-reader.js'

const log = logger('meshpool:channel')

export interface ChannelHandlers<In> {
  message(message: In): void
  close(reason?: Error): void
}

/**
 * A two-way, ordered message channel. The head, nodes and clients speak over
 * channels: framed libp2p streams between processes, or in-memory pairs when
 * the head runs inside the caller's process.
 */
export interface Channel<In, Out> {
  /** Starts delivering messages to the handlers; call once. */
  start(handlers: ChannelHandlers<In>): void
  /** Queues a message. Throws FrameError at once if it is too large to send. */
  send(message: Out): void
  close(reason?: Error): void
  /** Bytes queued and not yet handed to the transport. */
  readonly queuedBytes: number
  /** Resolves once what was sent so far has gone to the transport (or the channel closed): for senders of big values in parts. */
  whenSent(): Promise<void>
}

export interface StreamChannelLimits {
  /** Largest frame accepted from the peer. @default MAX_FRAME_BYTES */
  maxInFrameBytes?: number
  /** Largest frame sent. @default MAX_FRAME_BYTES */
  maxOutFrameBytes?: number
  /** A peer that leaves more than this unread is cut off. @default MAX_QUEUED_BYTES */
  maxQueuedBytes?: number
}

/** Bytes of frames received and sent over every stream channel of this process (for metrics). */
export const channelBytes = { in: 0, out: 0 }

/** What one peer may leave unread on one stream before it is cut off (a peer that sends and never reads). */
export const MAX_QUEUED_BYTES = 1024 * 1024 * 1024

const PIECE_BYTES = 1024 * 1024
/**
 * Frames sent in one turn go out joined, in writes of up to this many bytes:
 * each write to a stream is a yamux frame, a noise message and a syscall, so
 * a length prefix and its frame written apart cost twice, and a head
 * answering 100 nodes spent more time in socket writes than in anything else.
 */
const JOIN_BYTES = 64 * 1024
/** How long a plain close waits for what was sent before it to go out. */
const CLOSE_FLUSH_MS = 10_000

/**
 * A channel over a libp2p stream: varint length-prefixed CBOR frames, each
 * checked against the messages this side accepts. A malformed frame closes the
 * stream (the peer is broken or hostile) without harming anything else.
 */
export class StreamChannel<In extends { type: string }, Out extends object> implements Channel<In, Out> {
  readonly #stream: Stream
  readonly #accepted: Parameters<typeof decodeFrame>[1]
  readonly #maxIn: number
  readonly #maxOut: number
  readonly #maxQueued: number
  #queue: Uint8Array[] = []
  #queuedBytes = 0
  #pumping = false
  #closed = false
  #closeWhenSent = false
  #handlers: ChannelHandlers<In> | undefined
  /** Callers of whenSent, told once the queue is empty or the channel closed. */
  #sentWaiters: Array<() => void> = []

  constructor(stream: Stream, accepted: Parameters<typeof decodeFrame>[1], limits: StreamChannelLimits = {}) {
    this.#stream = stream
    this.#accepted = accepted
    this.#maxIn = limits.maxInFrameBytes ?? MAX_FRAME_BYTES
    this.#maxOut = limits.maxOutFrameBytes ?? MAX_FRAME_BYTES
    this.#maxQueued = limits.maxQueuedBytes ?? MAX_QUEUED_BYTES
    stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, Math.min(this.#maxIn, 16 * 1024 * 1024))
  }

  get queuedBytes(): number {
    return this.#queuedBytes
  }

  start(handlers: ChannelHandlers<In>): void {
    this.#handlers = handlers
    void this.#read()
  }

  whenSent(): Promise<void> {
    if (this.#closed || (!this.#pumping && this.#queue.length === 0)) return Promise.resolve()
    return new Promise((resolve) => this.#sentWaiters.push(resolve))
  }

  #tellSent(): void {
    const waiters = this.#sentWaiters
    this.#sentWaiters = []
    for (const resolve of waiters) resolve()
  }

  send(message: Out): void {
    if (this.#closed || this.#closeWhenSent) return
    const body = encodeFramePieces(message, this.#maxOut)
    let length = 0
    for (const piece of body) length += piece.byteLength
    if (this.#queuedBytes + length > this.#maxQueued) {
      this.close(new FrameError(`the peer left over ${this.#maxQueued} bytes unread; cutting it off`))
      return
    }
    this.#queue.push(varint.encode(length))
    for (const piece of body) {
      for (let at = 0; at < piece.byteLength; at += PIECE_BYTES) {
        this.#queue.push(piece.subarray(at, Math.min(at + PIECE_BYTES, piece.byteLength)))
      }
    }
    this.#queuedBytes += length
    channelBytes.out += length
    if (!this.#pumping) {
      // At the end of this turn of the event loop: what else it sends meanwhile goes out in the same writes.
      this.#pumping = true
      setImmediate(() => void this.#pump())
    }
  }

  close(reason?: Error): void {
    if (this.#closed) return
    if (reason === undefined && this.#pumping) {
      // A plain close lets what was sent before it go out first (a peer that reads nothing is cut off).
      if (!this.#closeWhenSent) {
        this.#closeWhenSent = true
        setTimeout(
          () => this.close(new Error('the peer did not read what was sent before the close')),
          CLOSE_FLUSH_MS,
        ).unref()
      }
      return
    }
    this.#closed = true
    this.#tellSent()
    if (reason === undefined) {
      this.#stream.close().catch(() => this.#stream.abort(new Error('closed')))
    } else {
      this.#stream.abort(reason)
    }
    this.#handlers?.close(reason)
  }

  async #pump(): Promise<void> {
    this.#pumping = true
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const pieces = joined(this.#queue)
        this.#queue = []
        for (const piece of pieces) {
          if (this.#closed) return
          const sent = this.#stream.send(piece)
          this.#queuedBytes = Math.max(0, this.#queuedBytes - piece.byteLength)
          if (!sent) await drained(this.#stream)
        }
      }
    } catch (err) {
      this.close(err instanceof Error ? err : new Error(String(err)))
    } finally {
      this.#pumping = false
      this.#tellSent()
      if (this.#closeWhenSent) this.close()
    }
  }

  async #read(): Promise<void> {
    const reader = new FrameReader({
      maxBytes: this.#maxIn,
      startBytes: FRAME_START_BYTES,
      checkStart: (start, length) => checkFrameStart(start, length, this.#accepted),
    })
    let reason: Error | undefined
    try {
      // it-pipe over the v3 stream (@libp2p/utils turns it into a duplex): as fast as iterating
      // the stream itself (scripts/pipe-vs-channel.mjs), and the form the libp2p stack uses.
      await pipe(this.#stream, async (source) => {
        for await (const chunk of source) {
          channelBytes.in += chunk.byteLength
          for (const frame of reader.push(chunk)) {
            const message = decodeFrame<In>(frame, this.#accepted, this.#maxIn)
            if (this.#closed) return
            safely(() => this.#handlers?.message(message))
          }
        }
      })
    } catch (err) {
      reason = err instanceof FrameError ? err : new Error(`stream failed: ${(err as Error)?.message ?? String(err)}`)
      log('closing stream: %s', reason.message)
    }
    if (!this.#closed) {
      this.#closed = true
      if (reason !== undefined) this.#stream.abort(reason)
      else this.#stream.close().catch(() => {})
      this.#handlers?.close(reason)
    }
  }
}

/** The pieces, with runs of small ones joined into pieces of up to {@link JOIN_BYTES}. */
function joined(pieces: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = []
  let run: Uint8Array[] = []
  let runBytes = 0
  const flush = (): void => {
    if (run.length > 0) out.push(run.length === 1 ? (run[0] as Uint8Array) : Buffer.concat(run, runBytes))
    run = []
    runBytes = 0
  }
  for (const piece of pieces) {
    if (runBytes + piece.byteLength > JOIN_BYTES) flush()
    if (piece.byteLength >= JOIN_BYTES) out.push(piece)
    else {
      run.push(piece)
      runBytes += piece.byteLength
    }
  }
  flush()
  return out
}

/** Resolves at the stream's next 'drain' (after a send that said false); rejects if it closes first. */
export function drained(stream: Stream): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      stream.removeEventListener('close', onClose)
      resolve()
    }
    const onClose = (): void => {
      stream.removeEventListener('drain', onDrain)
      reject(new Error('stream closed while sending'))
    }
    stream.addEventListener('drain', onDrain, { once: true })
    stream.addEventListener('close', onClose, { once: true })
  })
}

/** Runs a message handler; what it throws is logged, never thrown into the transport. */
export function safely(fn: () => void): void {
  try {
    fn()
  } catch (err) {
    log.error('message handler failed: %s', (err as Error)?.stack ?? String(err))
  }
}

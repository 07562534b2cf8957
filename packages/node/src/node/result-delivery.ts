import type { Stream } from '@libp2p/interface'
import {
  BIG_VALUE_BYTES,
  BLOB_VALUE_PART_BYTES,
  encodeBlobRef,
  errorShape,
  inbound,
  type JobOutcome,
  type PeerInfo,
  RESULT_PROTOCOL,
  type RelayRequest,
  type ResultAck,
  type ResultPart,
  valueParts,
} from '@meshpool/core'
import { StreamChannel } from '../net/channel.js'
import { codeHash } from '../net/code-hash.js'
import type { ClientRoutes } from './client-routes.js'

/** Hands a job's outcome on to the head: a big result goes to the client first (see {@link ResultDelivery}). */
export type DeliverOutcome = (outcome: JobOutcome, poolId: number, client: PeerInfo | undefined) => void

/** A delivery may take this long, plus the time for its bytes at 8 MiB/s. */
const DELIVERY_BASE_MS = 60_000
const DELIVERY_BYTES_PER_MS = 8 * 1024

/**
 * A node's big results (see BlobRef): each goes to the pool's client first,
 * straight or through the head's relay, and only once the client has it (and
 * checked its hash) does the head hear the job is done, with the reference in
 * place of the value. So no result is too big for a frame, the head never
 * holds one, and a result is never reported that its client can't have: a
 * delivery that fails reports the job lost, to run again.
 */
export class ResultDelivery {
  readonly #routes: ClientRoutes
  readonly #report: (outcome: JobOutcome) => void
  readonly #settled: () => void
  #pending = 0

  /** `report`: to the head; `settled`: told after each delivery, done or failed. */
  constructor(routes: ClientRoutes, report: (outcome: JobOutcome) => void, settled: () => void = () => {}) {
    this.#routes = routes
    this.#report = report
    this.#settled = settled
  }

  /** Deliveries under way (the node holds their results). */
  get pending(): number {
    return this.#pending
  }

  readonly deliver: DeliverOutcome = (outcome, poolId, client) => {
    if (!outcome.ok || outcome.value.byteLength < BIG_VALUE_BYTES) return this.#report(outcome)
    const { jobId, leaseId, value } = outcome
    const hash = codeHash(value)
    this.#pending++
    this.#send(value, hash, poolId, client)
      .then(
        () => this.#report({ jobId, leaseId, ok: true, value: encodeBlobRef({ hash, bytes: value.byteLength }) }),
        (err: Error) => {
          const error = errorShape(
            new Error(`its result (${value.byteLength} bytes) could not be handed to the client: ${err.message}`),
          )
          this.#report({ jobId, leaseId, ok: false, error, lost: true })
        },
      )
      .finally(() => {
        this.#pending--
        this.#settled()
      })
  }

  async #send(value: Uint8Array, hash: string, poolId: number, client: PeerInfo | undefined): Promise<void> {
    const signal = AbortSignal.timeout(DELIVERY_BASE_MS + Math.ceil(value.byteLength / DELIVERY_BYTES_PER_MS))
    const direct = await this.#routes.direct(client, RESULT_PROTOCOL, signal)
    if (direct !== undefined) {
      try {
        return await push(direct, undefined, value, hash, signal)
      } catch (err) {
        this.#routes.log(
          'result %s to the client failed (%s): going through the head',
          hash.slice(0, 12),
          (err as Error).message,
        )
      }
    }
    await push(await this.#routes.relayed(signal), { type: 'push', poolId }, value, hash, signal)
  }
}

/** Sends a result on a stream (after the relay's request, if any), part by part; resolves once the client has it. */
function push(
  stream: Stream,
  first: RelayRequest | undefined,
  value: Uint8Array,
  hash: string,
  signal: AbortSignal,
): Promise<void> {
  const channel = new StreamChannel<ResultAck, ResultPart | RelayRequest>(stream, inbound.resultAck)
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(new Error('the delivery timed out'))
    signal.addEventListener('abort', onAbort, { once: true })
    channel.start({
      message: (ack) => {
        if (ack.hash !== hash) return
        if (ack.type === 'got') resolve()
        else reject(new Error(`the client refused it: ${ack.message}`))
      },
      close: (reason) => reject(reason ?? new Error('the client closed the stream before it took the result')),
    })
    if (first !== undefined) channel.send(first)
    void (async () => {
      for (const part of valueParts(value, BLOB_VALUE_PART_BYTES)) {
        const whole = part.total === part.data.byteLength
        channel.send({
          type: 'result',
          hash,
          data: part.data,
          ...(whole ? {} : { offset: part.offset, total: part.total }),
        })
        await channel.whenSent()
      }
    })()
  }).finally(() => channel.close())
}

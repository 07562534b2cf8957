/**
 * Bounds on what one peer may ask of another, beside the frame limits in
 * `@meshpool/core` (MAX_FRAME_BYTES, MAX_BATCH_ITEMS, MAX_OPEN_JOBS_PER_CLIENT)
 * and the stream's own (MAX_QUEUED_BYTES in channel.ts).
 */

/** Streams of each protocol one connection may have open at once (a node needs one work stream). */
export const STREAMS_PER_CONNECTION = { work: 2, client: 8, code: 4, blob: 8, relay: 4, result: 4 } as const
/** Largest request frame on the code and blob protocols (they carry a hash and a flag). */
export const MAX_REQUEST_FRAME_BYTES = 64 * 1024
/** Connections from one IP address at once; more are refused (nodes behind one NAT share an address). */
export const MAX_CONNECTIONS_PER_IP = 256
/** Handshakes (pool key, then Noise) in progress at once; a fresh one pushes out the oldest (see HandshakeGate). */
export const MAX_PENDING_HANDSHAKES = 1024
/** Handshakes in progress at once from one IP address; a fresh one pushes out that address's oldest. */
export const MAX_PENDING_HANDSHAKES_PER_IP = 256
/** A connection that has not finished its handshake by then is dropped (a sender that trickles bytes). */
export const HANDSHAKE_DEADLINE_MS = 5000

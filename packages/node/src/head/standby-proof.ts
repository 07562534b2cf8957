import { createHmac, timingSafeEqual } from 'node:crypto'

/** What the proof of one head to another says: the protocol, then who speaks to whom. */
const PROOF_LABEL = 'meshpool/heads/v1'

/**
 * A head's proof, to the head `to`, that it holds the mesh's admin key: an
 * HMAC of both peer ids under the key. Noise has proved both peer ids, so a
 * proof given to one peer is worth nothing said by another, or to another;
 * and the key itself never leaves the head.
 */
export function headProof(adminKey: string, from: string, to: string): Uint8Array {
  return createHmac('sha256', adminKey).update(`${PROOF_LABEL}\u0000${from}\u0000${to}`).digest()
}

/** Whether `proof` is the proof of head `from` to head `to` under this admin key. */
export function checkHeadProof(adminKey: string, from: string, to: string, proof: Uint8Array): boolean {
  const want = headProof(adminKey, from, to)
  return proof.byteLength === want.byteLength && timingSafeEqual(proof, want)
}

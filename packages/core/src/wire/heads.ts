import { FrameError } from '../errors.js'
import { addrList, bool, bytes, type Check, type FrameLimits, message, uint } from './checks.js'
import { SMALL_FRAME_BYTES } from './limits.js'

/**
 * Protocol id of the link between the heads of one mesh: a standby watches
 * the active head over it, and a head that comes back learns who is active.
 */
export const HEADS_PROTOCOL = '/meshpool/heads/1.0.0'

/** Largest `proof` a head sends: an HMAC-SHA-256. */
const PROOF_BYTES = 32

/**
 * What each head says of itself, several times a second, both ways. `term`
 * counts the takeovers this head knows of (a higher term wins); `since` is
 * when it became active or standby (ms since the epoch, its own clock);
 * `addrs` where nodes and clients reach it; `nodes` how many nodes (not its
 * own local slots) it holds while active, 0 while standby: a standby takes
 * over only once more than half of the active head's last count came to it
 * (see head/standby-role.ts); `proof` shows it holds the
 * mesh's admin key (see head/standby-proof.ts), so a member without it can't
 * pose as a head.
 */
export type HeadsMessage = {
  type: 'state'
  term: number
  active: boolean
  since: number
  takeovers: number
  addrs: string[]
  nodes: number
  proof: Uint8Array
}

const proof: Check = (v, at) => {
  bytes(v, at)
  if ((v as Uint8Array).byteLength !== PROOF_BYTES)
    throw new FrameError(`malformed frame: ${at} should be ${PROOF_BYTES} bytes`)
}

/** What a head takes on {@link HEADS_PROTOCOL}. */
export const headsMessages: Record<HeadsMessage['type'], Check> = {
  state: message({ term: uint, active: bool, since: uint, takeovers: uint, addrs: addrList, nodes: uint, proof }),
}
export const headsLimits: FrameLimits<HeadsMessage['type']> = {
  state: SMALL_FRAME_BYTES,
}

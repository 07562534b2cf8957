import type { PeerRefusal } from '../net/pool-key-noise.js'

/** How many refused peer ids the head remembers having logged (a flood of them is logged once each, up to this). */
const LOGGED_REFUSALS = 1024

/** Logs each peer refused at the handshake once: a peer that retries in a loop does not fill the log. */
export function refusalLog(note: (line: string) => void): (peerId: string, why: PeerRefusal) => void {
  const logged = new Set<string>()
  return (peerId, why) => {
    if (logged.has(peerId)) return
    if (logged.size >= LOGGED_REFUSALS) logged.clear()
    logged.add(peerId)
    note(
      why === 'revoked'
        ? `refused ${peerId} at the handshake: it was revoked`
        : `refused ${peerId} at the handshake: it is not in the head's --allow-peers list`,
    )
  }
}

// Case j's figures (bench/takeover.js): how long a mesh with a standby head runs no job
// after its active head is SIGKILLed or SIGSTOPped.
import { fmtMs, quick } from './config.js'

/** Rounds of each kind; the figures are their medians. */
export const ROUNDS = quick ? 1 : 3
/** One kill and one freeze, with the heads' and nodes' start, took 21 s on 2 cores (`--quick --only=j` with this on): too long for --quick. */
export const TAKEOVER_IN_QUICK = false

export const TAKEOVER_ROWS = [
  {
    key: 'j.kill',
    case: 'j',
    label: `SIGKILL of the active head → first job done again on the standby (median of ${ROUNDS})`,
    unit: 'ms',
    fmt: fmtMs,
    target: '< 2,000 ms',
    ok: (v) => v < 2000,
  },
  {
    key: 'j.freeze',
    case: 'j',
    // The 2 s target is for a SIGKILL; a frozen head is left after nodes' and clients' pings go unanswered.
    label: `SIGSTOP of the active head → first job done again on the standby (median of ${ROUNDS})`,
    unit: 'ms',
    fmt: fmtMs,
  },
].filter(() => !quick || TAKEOVER_IN_QUICK)

import cliProgress from 'cli-progress'
import type { RunProgress } from './run-jobs.js'

/** The progress bar of `meshpool run` on stderr (in a log, a line every 2 s instead of a redrawn bar). */
export class RunBar {
  readonly #bar: cliProgress.SingleBar

  constructor(total: number) {
    this.#bar = new cliProgress.SingleBar(
      {
        format: '{bar} {value}/{total} jobs | {state} | {duration_formatted}, ETA {eta_formatted}',
        stream: process.stderr,
        noTTYOutput: true,
        notTTYSchedule: 2000,
        hideCursor: true,
        etaBuffer: 50,
        formatTime: formatSeconds,
      },
      cliProgress.Presets.shades_classic,
    )
    this.#bar.start(total, 0, { state: stateText({ done: 0, failed: 0, running: 0, queued: 0 }) })
  }

  update(progress: RunProgress): void {
    this.#bar.update(progress.done + progress.failed, { state: stateText(progress) })
  }

  stop(): void {
    this.#bar.stop()
  }
}

function stateText({ failed, running, queued }: RunProgress): string {
  return `${running} running, ${queued} queued${failed > 0 ? `, ${failed} failed` : ''}`
}

/**
 * Seconds as `42s`, `3m05s` or `2h10m`; `?` while cli-progress can't tell yet
 * (it passes 'INF' or 'NULL' then, which its own format prints as `NFs`).
 */
export function formatSeconds(t: unknown): string {
  if (typeof t !== 'number' || !Number.isFinite(t)) return '?'
  const s = Math.max(0, Math.round(t))
  if (s >= 3600) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`
  if (s >= 60) return `${Math.floor(s / 60)}m${pad(s % 60)}s`
  return `${s}s`
}

function pad(n: number): string {
  return String(n).padStart(2, '0')
}

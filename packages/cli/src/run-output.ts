import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { finished } from 'node:stream/promises'
import type { Outcome } from './run-jobs.js'

/** How many failed line numbers the summary lists before it says "and N more". */
const LINES_LISTED = 20

/**
 * Writes one JSON line per input, in input order: the result, or for a failed
 * job `{"error": {name, message, …}, "line": N}` with its line in the input file.
 * Maps, Sets, BigInts and typed arrays become their JSON look-alikes.
 */
export async function writeOutcomes(
  outcomes: readonly Outcome[],
  lines: readonly number[],
  file: string | undefined,
): Promise<void> {
  const out: NodeJS.WritableStream = file === undefined ? process.stdout : createWriteStream(file)
  let i = 0
  for (const outcome of outcomes) {
    const record = outcome.ok ? outcome.value : { error: errorRecord(outcome.error), line: lines[i] }
    if (!out.write(`${JSON.stringify(record, jsonReplacer)}\n`)) await once(out, 'drain')
    i++
  }
  if (out !== process.stdout) {
    out.end()
    await finished(out)
  }
}

/** The summary of a run with failed lines, e.g. `2 of 21 lines failed: lines 4, 9. Line 4: …`. */
export function failureSummary(outcomes: readonly Outcome[], lines: readonly number[]): string | undefined {
  const failed: number[] = []
  let first: Error | undefined
  outcomes.forEach((outcome, i) => {
    if (outcome.ok) return
    failed.push(lines[i] ?? i + 1)
    first ??= outcome.error
  })
  if (first === undefined) return undefined
  const listed = failed.slice(0, LINES_LISTED).join(', ')
  const more = failed.length > LINES_LISTED ? ` and ${failed.length - LINES_LISTED} more` : ''
  return (
    `${failed.length} of ${outcomes.length} ${outcomes.length === 1 ? 'line' : 'lines'} failed: ` +
    `${failed.length === 1 ? 'line' : 'lines'} ${listed}${more} (each has an {"error": …, "line": N} record in the output). ` +
    `Line ${failed[0]}: ${first.message}`
  )
}

function errorRecord(error: Error): Record<string, unknown> {
  const { remoteName, remoteStack } = error as { remoteName?: string; remoteStack?: string }
  return {
    name: error.name,
    message: error.message,
    ...(remoteName === undefined ? {} : { remoteName }),
    ...(remoteStack === undefined ? {} : { remoteStack }),
  }
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Map) return Object.fromEntries(value)
  if (value instanceof Set) return [...value]
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as Uint8Array)
  return value
}

import { TickFlush } from '@meshpool/core'

/**
 * What the worker writes with `process.stdout` / `process.stderr` (and so
 * `console`) goes to the agent over IPC, as lines, instead of down the pipes:
 * in order with the slot's results, so a job's output always arrives before
 * its result. Output that bypasses them (native code, child processes writing
 * to fd 1 or 2) still goes down the pipes, which the agent reads too.
 */
export function captureOutput(send: (lines: string[]) => void): { flush(): void } {
  let lines: string[] = []
  const flush = new TickFlush(() => {
    for (const partial of partials) partial.end()
    if (lines.length === 0) return
    const out = lines
    lines = []
    send(out)
  })
  const partials = [process.stdout, process.stderr].map((stream) => {
    let partial = ''
    stream.write = ((chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
      const text =
        typeof chunk === 'string'
          ? chunk
          : Buffer.from(chunk as Uint8Array).toString(
              typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8',
            )
      const parts = (partial + text).split('\n')
      partial = parts.pop() ?? ''
      lines.push(...parts.map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line)))
      flush.request()
      const done = typeof encoding === 'function' ? encoding : callback
      if (typeof done === 'function') queueMicrotask(() => (done as () => void)())
      return true
    }) as typeof stream.write
    return {
      /** A line left without its newline goes out as it is. */
      end(): void {
        if (partial === '') return
        lines.push(partial)
        partial = ''
      },
    }
  })
  return { flush: () => flush.now() }
}

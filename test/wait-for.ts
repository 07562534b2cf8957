/**
 * Polls a condition until it holds or the deadline passes; `detail` adds context to the timeout error.
 * The one polling helper of the tests: the end-to-end harness re-exports it, and unit tests import it
 * from here (it imports nothing, so it fits either).
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  what = 'a condition',
  detail: () => string = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${detail()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

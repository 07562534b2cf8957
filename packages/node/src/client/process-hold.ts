/** Long enough never to fire in practice; short enough to be a valid timer delay. */
const FOREVER_MS = 2 ** 30

/**
 * Keeps the Node process alive while set, and not at all otherwise: a ref'd
 * timer that does nothing. Setting it again, or clearing it twice, is harmless.
 */
export class ProcessHold {
  #timer: NodeJS.Timeout | undefined

  set(held: boolean): void {
    if (held && this.#timer === undefined) this.#timer = setInterval(() => {}, FOREVER_MS)
    else if (!held && this.#timer !== undefined) {
      clearInterval(this.#timer)
      this.#timer = undefined
    }
  }
}

/**
 * Waits on the agent's slots: a promise that settles once a condition over
 * them holds, checked after each slot event (a message, an exit), or once its
 * time is up.
 */
export class SlotWaits {
  readonly #checks = new Set<() => void>()

  /** Resolves with true once `done()` holds, with false after `ms`. */
  until(done: () => boolean, ms: number): Promise<boolean> {
    if (done()) return Promise.resolve(true)
    return new Promise((resolve) => {
      const finish = (held: boolean): void => {
        clearTimeout(timer)
        this.#checks.delete(check)
        resolve(held)
      }
      const check = (): void => {
        if (done()) finish(true)
      }
      const timer = setTimeout(() => finish(false), ms)
      this.#checks.add(check)
    })
  }

  /** A slot changed: the conditions are checked again. */
  changed(): void {
    for (const check of [...this.#checks]) check()
  }
}

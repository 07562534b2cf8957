/** A FIFO queue with O(1) push, shift and unshift, for millions of queued jobs. */
export class Deque<T> {
  #front: T[] = [] // reversed: the last item is the head of the queue
  #back: T[] = []
  #start = 0

  get length(): number {
    return this.#front.length + this.#back.length - this.#start
  }

  push(item: T): void {
    this.#back.push(item)
  }

  unshift(item: T): void {
    this.#front.push(item)
  }

  shift(): T | undefined {
    if (this.#front.length > 0) return this.#front.pop()
    if (this.#start >= this.#back.length) return undefined
    const item = this.#back[this.#start] as T
    this.#back[this.#start] = undefined as T
    this.#start++
    if (this.#start > 1024 && this.#start * 2 > this.#back.length) {
      this.#back = this.#back.slice(this.#start)
      this.#start = 0
    }
    return item
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.#front.length - 1; i >= 0; i--) yield this.#front[i] as T
    for (let i = this.#start; i < this.#back.length; i++) yield this.#back[i] as T
  }

  clear(): void {
    this.#front = []
    this.#back = []
    this.#start = 0
  }
}

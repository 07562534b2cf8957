/** Anything a pool call accepts as its inputs. */
export type Inputs<T> = readonly T[] | Iterable<T> | AsyncIterable<T>

/** Iterates arrays, iterables and async iterables alike, lazily. */
export function toAsyncIterator<T>(inputs: Inputs<T>): AsyncIterator<T> | Iterator<T> {
  if (inputs != null && typeof (inputs as AsyncIterable<T>)[Symbol.asyncIterator] === 'function') {
    return (inputs as AsyncIterable<T>)[Symbol.asyncIterator]()
  }
  if (inputs != null && typeof (inputs as Iterable<T>)[Symbol.iterator] === 'function') {
    return (inputs as Iterable<T>)[Symbol.iterator]()
  }
  throw new TypeError('inputs must be an array, an iterable or an async iterable')
}

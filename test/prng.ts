/** A small seeded PRNG (mulberry32): the same seed replays the same choices. */
export function prng(seed: number): { next(): number; int(min: number, max: number): number; pick<T>(list: T[]): T } {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1))
  return { next, int, pick: <T>(list: T[]): T => list[Math.floor(next() * list.length)] as T }
}

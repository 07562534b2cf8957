/**
 * A synthetic regression dataset, the same for the same seed: `samples` points
 * (x in [-1, 1]², y a smooth function of x plus noise), split 3:1 into training
 * and validation sets. main.js builds it once and shares it with pool.share().
 */
export function makeDataset(seed, samples) {
  const rand = random(seed)
  const f = ([a, b]) => Math.sin(3 * a) + b * b - 0.5 * a * b
  const xs = Array.from({ length: samples }, () => [rand() * 2 - 1, rand() * 2 - 1])
  const data = xs.map((x) => ({ x, y: f(x) + 0.1 * (rand() - 0.5) }))
  const train = data.slice(0, Math.floor(samples * 0.75))
  return { train, valid: data.slice(train.length) }
}

/** A small seeded generator (an LCG): the same numbers for the same seed, on every machine. */
export function random(seed) {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

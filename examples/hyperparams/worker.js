// Scores one hyperparameter set: ridge regression on random Fourier features of a
// synthetic dataset that each slot builds once (in its constructor) from init's seed.
export default class RidgeScorer {
  constructor({ seed, samples }, ctx) {
    const rand = random(seed)
    const f = ([a, b]) => Math.sin(3 * a) + b * b - 0.5 * a * b
    const xs = Array.from({ length: samples }, () => [rand() * 2 - 1, rand() * 2 - 1])
    const data = xs.map((x) => ({ x, y: f(x) + 0.1 * (rand() - 0.5) }))
    this.train = data.slice(0, Math.floor(samples * 0.75))
    this.valid = data.slice(this.train.length)
    this.slot = `${ctx.nodeId}#${ctx.slot}`
  }

  // The best result so far, as the client announces it; meshpool applies it between jobs.
  handleUpdate({ best }) {
    this.best = best
  }

  run(params) {
    const { features: n, gamma, lambda } = params
    const rand = random(n) // the same random features on every slot
    const gaussian = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())
    const w = Array.from({ length: n }, () => [gaussian(), gaussian(), rand() * 2 * Math.PI])
    const phi = ([a, b]) => w.map(([w0, w1, w2]) => Math.cos(Math.sqrt(2 * gamma) * (w0 * a + w1 * b) + w2))
    // The normal equations (ΦᵀΦ + λI) θ = Φᵀy as one augmented matrix.
    const A = Array.from({ length: n }, (_, i) => Array.from({ length: n + 1 }, (_, j) => (i === j ? lambda : 0)))
    for (const { x, y } of this.train) {
      const p = phi(x)
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) A[i][j] += p[i] * p[j]
        A[i][n] += p[i] * y
      }
    }
    const theta = solve(A)
    const predict = (x) => phi(x).reduce((sum, v, i) => sum + v * theta[i], 0)
    const mse = this.valid.reduce((sum, { x, y }) => sum + (predict(x) - y) ** 2, 0) / this.valid.length
    const knownBest = this.best?.mse
    return { params, mse, beatKnown: knownBest === undefined || mse < knownBest, knownBest, slot: this.slot }
  }
}

/** Gaussian elimination; the matrix is symmetric positive definite, so no pivoting. */
function solve(A) {
  const n = A.length
  for (let c = 0; c < n; c++)
    for (let r = c + 1; r < n; r++) {
      const k = A[r][c] / A[c][c]
      for (let j = c; j <= n; j++) A[r][j] -= k * A[c][j]
    }
  const x = []
  for (let r = n - 1; r >= 0; r--) {
    x[r] = A[r][n]
    for (let j = r + 1; j < n; j++) x[r] -= A[r][j] * x[j]
    x[r] /= A[r][r]
  }
  return x
}

/** A small seeded generator (an LCG): every slot draws the same numbers. */
function random(seed) {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

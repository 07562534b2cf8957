// Scores one hyperparameter set: ridge regression on random Fourier features of the
// dataset that main.js shares (pool.share): each job's params hold a handle to it, and
// run() sees the dataset itself there, fetched once per node and decoded once per slot.
import { random } from './dataset.js'

export default class RidgeScorer {
  constructor(_init, ctx) {
    this.slot = `${ctx.nodeId}#${ctx.slot}`
  }

  // The best result so far, as the client announces it; meshpool applies it between jobs.
  handleUpdate({ best }) {
    this.best = best
  }

  run(params) {
    const { features: n, gamma, lambda, data } = params
    const rand = random(n) // the same random features on every slot
    const gaussian = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())
    const w = Array.from({ length: n }, () => [gaussian(), gaussian(), rand() * 2 * Math.PI])
    const phi = ([a, b]) => w.map(([w0, w1, w2]) => Math.cos(Math.sqrt(2 * gamma) * (w0 * a + w1 * b) + w2))
    // The normal equations (ΦᵀΦ + λI) θ = Φᵀy as one augmented matrix.
    const A = Array.from({ length: n }, (_, i) => Array.from({ length: n + 1 }, (_, j) => (i === j ? lambda : 0)))
    for (const { x, y } of data.train) {
      const p = phi(x)
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) A[i][j] += p[i] * p[j]
        A[i][n] += p[i] * y
      }
    }
    const theta = solve(A)
    const predict = (x) => phi(x).reduce((sum, v, i) => sum + v * theta[i], 0)
    const mse = data.valid.reduce((sum, { x, y }) => sum + (predict(x) - y) ** 2, 0) / data.valid.length
    const knownBest = this.best?.mse
    return {
      params: { features: n, gamma, lambda },
      mse,
      beatKnown: knownBest === undefined || mse < knownBest,
      knownBest,
      slot: this.slot,
    }
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

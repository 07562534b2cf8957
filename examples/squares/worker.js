/** The smallest worker: squares a number. One instance lives in each slot. */
export default class Squares {
  constructor(_init, ctx) {
    this.slot = `${ctx.nodeId}#${ctx.slot}`
  }

  run(n) {
    return { n, square: n * n, slot: this.slot }
  }
}

// The end of a process that hosts joinHead nodes for the bench (many-nodes.js, sim-nodes.js):
// it says how the joins went in the lines the bench waits for, and stops every node on a signal.

/** Prints `retried after: …` lines, `joined N in M ms, R retries` and `ready`; SIGTERM or SIGINT stops the nodes. */
export function announceJoined({ nodes, ms, retries, failures }) {
  for (const failure of new Set(failures)) process.stdout.write(`retried after: ${failure}\n`)
  process.stdout.write(`joined ${nodes.length} in ${ms} ms, ${retries} retries\nready\n`)
  const stop = async () => {
    await Promise.allSettled(nodes.map((node) => node.stop()))
    process.exit(0)
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

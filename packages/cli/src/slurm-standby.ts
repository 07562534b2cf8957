import { shellQuote } from './cluster-text.js'

/** What the standby's lines of the head job need: how meshpool starts, and the head job's own sizes. */
export interface StandbyJob {
  /** The --meshpool command's words, each shell-quoted. */
  meshpool: string
  port: number
  headCpus: number
  time: string
  partition: string | undefined
}

/**
 * The head job's lines that start a standby head, once the primary is ready and
 * `$address` holds its address; afterwards `$heads` lists both heads, the primary
 * first, as nodes join them. The standby is a job of its own, on another node
 * (`--exclude` the head job's): a head job that ends with its node takes its own
 * steps with it, a job of its own outlives it. It gets a copy of the primary's
 * admin.key beside its key file, which is how the heads prove to each other
 * that they are the mesh's. Its folder reaches its job through the environment
 * (sbatch passes it on), so no path is spliced into its command.
 */
export function standbyLines(job: StandbyJob): string {
  const partition = job.partition === undefined ? '' : ` --partition=${shellQuote(job.partition)}`
  const command = `${job.meshpool} head --standby `
  const rest =
    ` --no-work --port ${job.port} --key-file "$MESHPOOL_SLURM_STANDBY/head.key" >"$MESHPOOL_SLURM_STANDBY/head.log" 2>&1; ` +
    `echo "the standby head exited ($?)" >>"$MESHPOOL_SLURM_STANDBY/head.log"`
  return `
standby="$state/standby"
mkdir -p "$standby"
cp "$state/admin.key" "$standby/admin.key"
MESHPOOL_SLURM_STANDBY="$standby" sbatch --job-name=meshpool-standby --ntasks=1 --cpus-per-task=${job.headCpus} \\
  --time=${shellQuote(job.time)}${partition} --exclude="$SLURMD_NODENAME" --output=/dev/null \\
  --wrap ${shellQuote(command)}"$address"${shellQuote(rest)}
echo "waiting for the standby head (job meshpool-standby, on a node other than $SLURMD_NODENAME; the partition needs two)"
until grep -q '^ready$' "$standby/head.log" 2>/dev/null; do
  if grep -q '^the standby head exited' "$standby/head.log" 2>/dev/null; then
    cat "$standby/head.log"; kill "$head_pid"; exit 1
  fi
  kill -0 "$head_pid" 2>/dev/null || { cat "$state/head.log"; exit 1; }
  sleep 1
done
# The standby's join line lists the primary, then the standby: its own address is the last.
standby_address=$(grep -m1 'meshpool join ' "$standby/head.log" | grep -oE '/ip4/[0-9.]+/tcp/[0-9]+/p2p/[A-Za-z0-9]+' | tail -n1)
echo "meshpool standby head at $standby_address"
heads="$address $standby_address"
`
}

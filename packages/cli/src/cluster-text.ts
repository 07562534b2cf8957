/** How the generated scripts and manifests start meshpool unless told otherwise: the command on the machines' PATH. */
export const DEFAULT_MESHPOOL = 'meshpool'

/** `value` as one word in sh and bash: single-quoted, each ' written as '\''. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`
}

/** Text for a comment line: no newline may end the comment early. */
export function comment(text: string): string {
  return JSON.stringify(text).slice(1, -1)
}

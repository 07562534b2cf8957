/**
 * Escape sequences a terminal acts on: strings (OSC, DCS, SOS, PM, APC, up to
 * their BEL or ST, or the end of the text when unterminated), CSI sequences,
 * and the other ESC sequences; each with its 7-bit (ESC …) and 8-bit (C1) introducer.
 */
const SEQUENCES = new RegExp(
  [
    '(?:\\x1b[\\]PX^_]|[\\x90\\x98\\x9d\\x9e\\x9f])[^\\x07\\x1b\\x9c]*(?:\\x07|\\x1b\\\\|\\x9c)?',
    '(?:\\x1b\\[|\\x9b)[\\x30-\\x3f]*[\\x20-\\x2f]*[\\x40-\\x7e]?',
    '\\x1b[\\x20-\\x2f]*[\\x30-\\x7e]?',
  ].join('|'),
  'g',
)
/** What is left of the controls once sequences are gone: C0 but tab, DEL, C1. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROLS = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/g

/**
 * `text` with every terminal control character removed: C0 controls except tab
 * (so newlines and carriage returns too), DEL, C1 controls, and whole ESC
 * sequences (colours, cursor moves, screen clears, window titles). For text from
 * others (node names, worker output) on its way to a terminal, where those bytes
 * could rewrite the screen or what a user sees.
 */
export function printable(text: string): string {
  return text.replace(SEQUENCES, '').replace(CONTROLS, '')
}

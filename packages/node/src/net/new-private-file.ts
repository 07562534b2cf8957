import { randomBytes } from 'node:crypto'
import { link, unlink, writeFile } from 'node:fs/promises'

/**
 * Creates `file` (mode 0600) holding `text`, unless it exists already; true when
 * this call made it. The text is written to a file of its own first and linked
 * into place, so no reader, and no creator racing this one, ever sees the file
 * empty or half-written, and a crash mid-write leaves no broken file behind.
 */
export async function createPrivateFile(file: string, text: string): Promise<boolean> {
  const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.draft`
  await writeFile(draft, text, { mode: 0o600, flag: 'wx' })
  try {
    await link(draft, file)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  } finally {
    await unlink(draft).catch(() => {})
  }
}

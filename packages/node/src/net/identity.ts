import { existsSync } from 'node:fs'
import { chmod, link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { checkPrivateFile } from './psk.js'

/**
 * Loads the peer's private key from `file`, or creates one there (mode 0600),
 * so the peer id, and with it the `/p2p/…` join address, survives restarts.
 */
export async function loadOrCreateIdentity(file: string): Promise<PrivateKey> {
  try {
    const bytes = await readFile(file)
    checkPrivateFile(file, 'identity key file')
    try {
      return privateKeyFromProtobuf(bytes)
    } catch (err) {
      throw new Error(
        `the key file ${file} is not a meshpool identity (${(err as Error).message}); move it away to create a new one`,
      )
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const key = await generateKeyPair('Ed25519')
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  // Written whole, then linked in place: two processes that create it at once end up with the same key.
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, privateKeyToProtobuf(key), { mode: 0o600 })
  await chmod(tmp, 0o600)
  try {
    await link(tmp, file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    return loadOrCreateIdentity(file)
  } finally {
    await unlink(tmp).catch(() => {})
  }
  return key
}

/** A new peer identity as the bytes of a key file, and the peer id it gives (for generated deployments). */
export async function newIdentity(): Promise<{ keyFile: Uint8Array; peerId: string }> {
  const key = await generateKeyPair('Ed25519')
  return { keyFile: privateKeyToProtobuf(key), peerId: peerIdFromPrivateKey(key).toString() }
}

/** Where a client keeps its identity, used when the file is there (see {@link clientIdentity}). */
export const DEFAULT_CLIENT_KEY_FILE = join(homedir(), '.meshpool', 'client.key')

/**
 * A client's identity, for a head with `--allow-peers` (which lets in only the
 * peer ids it lists): from `file` (created there if missing), else
 * MESHPOOL_CLIENT_KEY_FILE (the same), else ~/.meshpool/client.key when it
 * exists. Undefined otherwise: the client gets a new peer id each run.
 */
export async function clientIdentity(file?: string): Promise<PrivateKey | undefined> {
  const named = file ?? (process.env.MESHPOOL_CLIENT_KEY_FILE || undefined)
  if (named !== undefined) return loadOrCreateIdentity(named)
  return existsSync(DEFAULT_CLIENT_KEY_FILE) ? loadOrCreateIdentity(DEFAULT_CLIENT_KEY_FILE) : undefined
}

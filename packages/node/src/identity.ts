import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
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
  await writeFile(file, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
  await chmod(file, 0o600)
  return key
}

/** A new peer identity as the bytes of a key file, and the peer id it gives (for generated deployments). */
export async function newIdentity(): Promise<{ keyFile: Uint8Array; peerId: string }> {
  const key = await generateKeyPair('Ed25519')
  return { keyFile: privateKeyToProtobuf(key), peerId: peerIdFromPrivateKey(key).toString() }
}

import type { Logger } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { MeshPeer } from '../net/peer.js'
import type { NodeAgent } from './agent.js'
import { type BlobStore, fetchBlob } from './blob-store.js'
import { nodeLog } from './node-log.js'

/** A big update announced on gossip: its bytes are a blob, by hash. */
export interface AnnouncedBlob {
  poolId: number
  seq: number
  hash: string
}

/** Fetches a big update announced on gossip as a blob; if that fails, a catch-up from the head gets it. */
export function fetchUpdateBlob(
  agent: NodeAgent,
  from: { peer: MeshPeer; head: () => Multiaddr; blobs: BlobStore; log: Logger; name: string },
  { poolId, seq, hash }: AnnouncedBlob,
): void {
  agent.blobComing(poolId, seq, true)
  fetchBlob(from.peer, from.head(), hash, from.blobs, nodeLog('blobs', from.name))
    .then((value) => {
      agent.blobComing(poolId, seq, false)
      agent.onUpdates([{ poolId, seq, value }])
    })
    .catch((err: Error) => {
      from.log('update %d of pool %d as a blob failed (%s): catching up from the head', seq, poolId, err.message)
      agent.blobComing(poolId, seq, false)
      agent.onAnnounced([{ poolId, seq }])
    })
}

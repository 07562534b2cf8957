import { isSharedHash } from '@meshpool/core'
import type { SlotChild } from './slot-process.js'
import type { SlotInit } from './slot-types.js'

/**
 * Answers a slot process that asks for a shared value its job refers to: the
 * node's copy (fetched if it has none yet), or why it can't be had. The slot
 * runs the pool's code, so the hash it names is checked before the node asks
 * anyone for it.
 */
export function answerShared(
  process: Pick<SlotChild, 'send'>,
  shared: SlotInit['shared'],
  poolId: number | undefined,
  hash: string,
): void {
  if (poolId === undefined || !isSharedHash(hash)) return
  shared(poolId, hash).then(
    (value) => process.send({ type: 'shared', hash, value }),
    (err: Error) => process.send({ type: 'shared', hash, error: err.message }),
  )
}

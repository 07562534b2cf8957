import type { Check } from './checks.js'
import { clientMessageLimits, clientMessages, headToClientLimits, headToClientMessages } from './client.js'
import {
  blobReplies,
  blobReplyLimits,
  blobRequestLimits,
  blobRequests,
  codeReplies,
  codeRequestLimits,
  codeRequests,
  relayRequestLimits,
  relayRequests,
  resultAckLimits,
  resultAcks,
  resultParts,
} from './fetch.js'
import { headsLimits, headsMessages } from './heads.js'
import { headToNodeLimits, headToNodeMessages, nodeMessageLimits, nodeMessages } from './work.js'

/** The messages each side of each protocol may receive. */
export const inbound = {
  head: { work: nodeMessages, client: clientMessages, code: codeRequests, heads: headsMessages },
  node: headToNodeMessages,
  client: headToClientMessages,
  codeReply: codeReplies,
  blobRequest: blobRequests,
  blobReply: blobReplies,
  relayRequest: relayRequests,
  resultPart: resultParts,
  resultAck: resultAcks,
} as const

const limits = new WeakMap<object, Partial<Record<string, number>>>([
  [nodeMessages, nodeMessageLimits],
  [headToNodeMessages, headToNodeLimits],
  [clientMessages, clientMessageLimits],
  [headToClientMessages, headToClientLimits],
  [codeRequests, codeRequestLimits],
  [blobRequests, blobRequestLimits],
  [blobReplies, blobReplyLimits],
  [relayRequests, relayRequestLimits],
  [resultAcks, resultAckLimits],
  [headsMessages, headsLimits],
])

/** The frame limit of a message type on one side (see {@link FrameLimits}); undefined for one that carries values. */
export function frameLimit(accepted: Record<string, Check>, type: string): number | undefined {
  return limits.get(accepted)?.[type]
}

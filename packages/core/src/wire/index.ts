/**
 * The wire: one file per protocol (its messages, their checks and frame
 * limits), the frame codec, and the limits every protocol shares.
 */
export type {
  ClientMessage,
  ClientOutcome,
  HeadsInfo,
  HeadToClientMessage,
  NodeInfo,
  PoolSettingsWire,
  SubmittedJob,
} from './client.js'
export { CLIENT_PROTOCOL } from './client.js'
export type { BlobReply, BlobRequest, CodeReply, CodeRequest, RelayRequest, ResultAck, ResultPart } from './fetch.js'
export { BLOB_PROTOCOL, CODE_PROTOCOL, RELAY_PROTOCOL, RESULT_PROTOCOL } from './fetch.js'
export { checkFrameStart, decodeFrame, encodeFrame, encodeFramePieces, FRAME_START_BYTES } from './frame.js'
export type { HeadsMessage } from './heads.js'
export { HEADS_PROTOCOL } from './heads.js'
export { inbound } from './inbound.js'
export {
  BATCH_SOFT_BYTES,
  FRAME_BUDGET,
  GOSSIP_INLINE_BYTES,
  MAX_BATCH_ITEMS,
  MAX_FRAME_BYTES,
  MAX_OPEN_JOBS_PER_CLIENT,
  MAX_SLOTS_PER_NODE,
  VALUE_PART_BYTES,
} from './limits.js'
export type {
  AnnouncedUpdate,
  GpuSummary,
  HeadToNodeMessage,
  JobOutcome,
  JobProgress,
  LeasedJob,
  NodeMessage,
  PeerInfo,
  PoolSpec,
  SlotStateName,
  UpdateEntry,
} from './work.js'
export { UPDATES_TOPIC, WORK_PROTOCOL } from './work.js'

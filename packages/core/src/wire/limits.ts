/** Largest frame any meshpool protocol accepts, in bytes. */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024
/**
 * A shared value or blob bigger than this goes in parts of this size, each a
 * frame of its own: a value may then be as big as the machines can hold, while
 * every frame stays under MAX_FRAME_BYTES.
 */
export const VALUE_PART_BYTES = 64 * 1024 * 1024
/** Updates bigger than this are announced on gossip (number and hash) and fetched as blobs. */
export const GOSSIP_INLINE_BYTES = 1024 * 1024
/** Senders close a batch frame once its payloads pass this many bytes. */
export const BATCH_SOFT_BYTES = 1024 * 1024
/**
 * Most jobs a client may have open on the head at once: a client past it keeps
 * further jobs to itself until results come back (backpressure); the head
 * refuses a client that sends more.
 */
export const MAX_OPEN_JOBS_PER_CLIENT = 1_000_000
/** Most items (jobs, results) in one frame. */
export const MAX_BATCH_ITEMS = 65_536
/** Most slots a node may have (and GPUs it may list): what it may hold is tied to its slots. */
export const MAX_SLOTS_PER_NODE = 1024
/**
 * What any frame may hold, checked before it is decoded: nesting depth, and
 * arrays and maps in all (each becomes an object). A full batch needs a few
 * per item; a frame of millions of empty maps is refused unread.
 */
export const FRAME_BUDGET = { maxDepth: 16, maxContainers: 4 * MAX_BATCH_ITEMS + 4096 } as const

const KiB = 1024
const MiB = 1024 * KiB
/** The frame limit of control messages: a few numbers and names. */
export const SMALL_FRAME_BYTES = 64 * KiB
/** The frame limit of lists of ids, peers, lines or progress: bounded by MAX_BATCH_ITEMS items. */
export const MEDIUM_FRAME_BYTES = 16 * MiB
/** The frame limit of a node's hello (its addresses and GPUs). */
export const HELLO_FRAME_BYTES = 256 * KiB

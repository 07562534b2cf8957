/** Most items (jobs, results) in one frame. */
export const MAX_BATCH_ITEMS = 65_536
/** Most slots a node may have (and GPUs it may list): what it may hold is tied to its slots. */
export const MAX_SLOTS_PER_NODE = 1024

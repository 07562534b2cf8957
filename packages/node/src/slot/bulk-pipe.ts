import { Socket } from 'node:net'
import { BULK_FD, BULK_MIN_BYTES, type SlotResult } from './protocol.js'

let socket: Socket | undefined

/** The slot's end of the bulk pipe (BULK_FD), both ways: big params in, big results out. */
export function bulkSocket(): Socket {
  socket ??= new Socket({ fd: BULK_FD, readable: true, writable: true })
  return socket
}

const EMPTY = new Uint8Array(0)

/**
 * Results with their big values sent raw on the bulk pipe (in order), not
 * through the IPC channel's serializer: such a result says how many bytes
 * (`bulk`) its node reads off the pipe for it.
 */
export function withBulkValues(results: SlotResult[]): SlotResult[] {
  if (!results.some((r) => r.ok && r.value.byteLength >= BULK_MIN_BYTES)) return results
  return results.map((result) => {
    if (!result.ok || result.value.byteLength < BULK_MIN_BYTES) return result
    try {
      bulkSocket().write(result.value)
    } catch {
      return result // run by hand, without the agent's pipe
    }
    return { ...result, value: EMPTY, bulk: result.value.byteLength }
  })
}

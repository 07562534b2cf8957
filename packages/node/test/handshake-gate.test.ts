import { describe, expect, it } from 'vitest'
import { HandshakeGate, type PendingConnection } from '../src/net/handshake-gate.js'

function connection(ip: string): PendingConnection & { dropped: Error | undefined } {
  const conn = {
    ip,
    dropped: undefined as Error | undefined,
    abort(err: Error) {
      conn.dropped = err
    },
  }
  return conn
}

describe('HandshakeGate', () => {
  it("pushes out the address's oldest handshake when that address is at its bound, never the fresh one", () => {
    const gate = new HandshakeGate({ maxPending: 100, maxPendingPerIp: 3 })
    const idle = [connection('10.0.0.9'), connection('10.0.0.9'), connection('10.0.0.9')]
    for (const c of idle) gate.admit(c)
    const fresh = connection('10.0.0.9')
    gate.admit(fresh)
    expect(idle[0]?.dropped?.name).toBe('HandshakeEvictedError')
    expect(idle[0]?.dropped?.message).toMatch(/over 3 handshakes in progress from 10\.0\.0\.9/)
    expect(idle.slice(1).every((c) => c.dropped === undefined)).toBe(true)
    expect(fresh.dropped).toBeUndefined()
    expect(gate.pending).toBe(3)
  })

  it('when full, pushes out the oldest handshake of the busiest address: a flood only displaces itself', () => {
    const gate = new HandshakeGate({ maxPending: 4, maxPendingPerIp: 10 })
    const member = connection('10.0.0.1')
    gate.admit(member)
    const flood = [connection('10.0.0.9'), connection('10.0.0.9'), connection('10.0.0.9')]
    for (const c of flood) gate.admit(c)
    const another = connection('10.0.0.2')
    gate.admit(another)
    expect(flood[0]?.dropped).toBeDefined()
    expect(member.dropped).toBeUndefined()
    expect(another.dropped).toBeUndefined()
    expect(gate.pending).toBe(4)
  })

  it('a finished, failed or closed handshake frees its place once, however often it is reported', () => {
    const gate = new HandshakeGate({ maxPending: 2, maxPendingPerIp: 2 })
    const a = connection('10.0.0.1')
    const b = connection('10.0.0.1')
    gate.admit(a)
    gate.admit(b)
    gate.done(a)
    gate.done(a)
    expect(gate.pending).toBe(1)
    const c = connection('10.0.0.1')
    gate.admit(c)
    expect(b.dropped).toBeUndefined()
    expect(gate.pending).toBe(2)
  })
})

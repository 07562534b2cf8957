import { describe, expect, it } from 'vitest'
import { checkHeadProof, headProof } from '../src/head/standby-proof.js'
import { ANY_NODE_AFTER_MS, HeadRole, type HeadState, KNOCK_WINDOW_MS } from '../src/head/standby-role.js'
import { HeadCursor, parseHeadList } from '../src/net/head-list.js'

const A = '/ip4/10.0.0.1/tcp/8899/p2p/12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
const B = '/ip4/10.0.0.2/tcp/8899/p2p/12D3KooWBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB'

function clock() {
  const c = { t: 1_000_000, now: () => c.t }
  return c
}

const active = (term: number, addrs = [A], nodes = 0): HeadState => ({
  term,
  active: true,
  since: 0,
  takeovers: 0,
  addrs,
  nodes,
})

/** A standby that has heard an active head holding `nodes` nodes, and the lines it said. */
function standbyOf(nodes: number) {
  const c = clock()
  const notes: string[] = []
  const changes: boolean[] = []
  const role = new HeadRole({
    peerId: 'b',
    standby: true,
    addrs: () => [B],
    now: c.now,
    onNote: (line) => notes.push(line),
    onChange: (a, why) => {
      changes.push(a)
      notes.push(why)
    },
  })
  role.heard('a', active(1, [A], nodes))
  /** Ticks every heartbeat for `ms`. */
  const pass = (ms: number) => {
    for (let t = 0; t < ms; t += 200) {
      c.t += 200
      role.tick()
    }
  }
  return { c, role, notes, changes, pass }
}

describe('HeadRole', () => {
  it('a standby takes over once no active head has spoken for the lease, with a higher term', () => {
    const c = clock()
    const changes: boolean[] = []
    const role = new HeadRole({
      peerId: 'b',
      standby: true,
      addrs: () => [B],
      now: c.now,
      onChange: (a) => changes.push(a),
    })
    role.heard('a', active(1))
    expect(role.activeAddress).toBe(A)
    c.t += 900
    role.tick()
    role.heard('a', active(1))
    c.t += 1000
    role.tick()
    expect(role.active).toBe(false)
    c.t += 1
    role.tick()
    expect(role.active).toBe(true)
    expect(role.state()).toMatchObject({ term: 2, takeovers: 1, active: true })
    expect(role.activeAddress).toBe(B)
    expect(changes).toEqual([true])
  })

  it('a standby that stalled (frozen, a long GC) waits a tick for what the active head sent meanwhile', () => {
    const c = clock()
    const role = new HeadRole({ peerId: 'b', standby: true, addrs: () => [B], now: c.now })
    role.heard('a', active(1))
    role.tick()
    c.t += 5000
    role.tick()
    expect(role.active).toBe(false)
    role.heard('a', active(1))
    c.t += 200
    role.tick()
    expect(role.active).toBe(false)
    c.t += 1200
    for (let i = 0; i < 6; i++) {
      c.t += 200
      role.tick()
    }
    expect(role.active).toBe(true)
  })

  it('a standby that never heard an active head waits (it takes no mesh it never saw)', () => {
    const c = clock()
    const role = new HeadRole({ peerId: 'b', standby: true, addrs: () => [B], now: c.now })
    c.t += 60_000
    role.tick()
    expect(role.active).toBe(false)
    expect(role.activeAddress).toBeUndefined()
  })

  it('an active head steps down for a higher term, and for the same term only to a lower peer id', () => {
    const c = clock()
    const role = new HeadRole({ peerId: 'm', standby: false, addrs: () => [A], now: c.now })
    role.heard('z', active(1))
    expect(role.active).toBe(true)
    role.heard('n', { ...active(1), active: false, term: 0 })
    expect(role.active).toBe(true)
    role.heard('a', active(1, [B]))
    expect(role.active).toBe(false)
    expect(role.activeAddress).toBe(B)
    expect(role.activePeer).toBe('a')
  })

  it('a head that came back with a lower term steps down, adopts the term and the takeover count', () => {
    const role = new HeadRole({ peerId: 'a', standby: false, addrs: () => [A] })
    role.heard('b', { term: 2, active: true, since: 5, takeovers: 1, addrs: [B], nodes: 0 })
    expect(role.active).toBe(false)
    expect(role.state()).toMatchObject({ term: 2, takeovers: 1 })
  })
})

describe("the split rule: a standby takes over only once more than half of the active head's nodes came to it", () => {
  it('heads cut off from each other but not from the nodes: the lease runs out, no node comes, the standby stays standby', () => {
    const { role, notes, changes, pass } = standbyOf(2)
    pass(10_000)
    expect(role.active).toBe(false)
    expect(changes).toEqual([])
    // Nodes and clients that reach it are still sent to the head that has the nodes.
    expect(role.activeAddress).toBe(A)
    expect(role.state()).toMatchObject({ term: 1, active: false, nodes: 0 })
    expect(notes).toHaveLength(1)
    expect(notes[0]).toMatch(/only 0 of the 2 nodes it held came here: this head stays standby/)
    // The cut heals: the active head speaks again, and the standby says it stays so.
    role.heard('a', active(1, [A], 2))
    pass(600)
    expect(notes[1]).toMatch(/the active head a is heard again: this head stays its standby/)
    expect(changes).toEqual([])
  })

  it('the active head killed: its nodes come to the standby, which takes over at the end of the lease', () => {
    const { role, notes, pass } = standbyOf(2)
    pass(200)
    expect(role.knocked('n1')).toBe(false)
    expect(role.knocked('n2')).toBe(false)
    // Nodes keep coming back every few hundred ms; they count once each.
    expect(role.knocked('n1')).toBe(false)
    pass(600)
    expect(role.active).toBe(false)
    pass(400)
    expect(role.active).toBe(true)
    expect(notes.at(-1)).toMatch(/takes over \(term 2\); 2 of the 2 nodes it held came here/)
    expect(role.knocked('n1')).toBe(true)
  })

  it('the node that makes the majority after the lease ran out is served at once', () => {
    const { role, pass } = standbyOf(3)
    pass(1400)
    expect(role.knocked('n1')).toBe(false)
    expect(role.active).toBe(false)
    expect(role.knocked('n2')).toBe(true)
    expect(role.active).toBe(true)
  })

  it('a node that comes just after this process stalled waits for the tick, which reads what the active head sent meanwhile', () => {
    const { c, role, pass } = standbyOf(1)
    pass(200)
    c.t += 5000
    expect(role.knocked('n1')).toBe(false)
    // The timer's first tick after the stall sees it (the knock did not hide it) and waits.
    c.t += 100
    role.tick()
    expect(role.active).toBe(false)
    role.heard('a', active(1, [A], 1))
    pass(400)
    expect(role.active).toBe(false)
  })

  it('a head that died with one of its two nodes: after a longer silence the node left is enough', () => {
    const { role, notes, pass } = standbyOf(2)
    for (let t = 0; t < ANY_NODE_AFTER_MS; t += 400) {
      expect(role.knocked('n1')).toBe(false)
      pass(400)
    }
    expect(notes[0]).toMatch(/only 1 of the 2 nodes it held came here/)
    pass(400)
    expect(role.knocked('n1')).toBe(true)
    expect(notes.at(-1)).toMatch(/takes over \(term 2\); 1 of the 2 nodes it held came here/)
  })

  it('half of the nodes is not a majority', () => {
    const { role, pass } = standbyOf(4)
    role.knocked('n1')
    role.knocked('n2')
    pass(2000)
    expect(role.active).toBe(false)
    role.knocked('n3')
    expect(role.active).toBe(true)
  })

  it('a node counts for a few seconds only: one that came long ago went back to a head that had it', () => {
    const { c, role, pass } = standbyOf(2)
    role.knocked('n1')
    c.t += KNOCK_WINDOW_MS + 1
    role.heard('a', active(1, [A], 2))
    pass(1400)
    expect(role.knocked('n2')).toBe(false)
    expect(role.knocked('n1')).toBe(true)
  })

  it('nodes that come while the active head still speaks do not make a takeover', () => {
    const { role, pass } = standbyOf(1)
    for (let i = 0; i < 20; i++) {
      role.knocked('n1')
      pass(200)
      role.heard('a', active(1, [A], 1))
    }
    expect(role.active).toBe(false)
  })

  it("remembers at most 10,000 nodes that came (a member with many identities can't fill its memory)", () => {
    const { role, notes, pass } = standbyOf(30_000)
    for (let i = 0; i < 12_000; i++) role.knocked(`n${i}`)
    pass(1200)
    expect(role.active).toBe(false)
    expect(notes[0]).toMatch(/only 10000 of the 30000 nodes it held came here/)
  })

  it('an active head that held no nodes (a fresh mesh) is replaced on the lease alone', () => {
    const { role, pass } = standbyOf(0)
    pass(1200)
    expect(role.active).toBe(true)
  })

  it('goes by the count the active head said last, and says its own count only while active', () => {
    const { role, pass } = standbyOf(0)
    role.heard('a', active(1, [A], 1))
    pass(1200)
    expect(role.active).toBe(false)
    const held = new HeadRole({ peerId: 'a', standby: false, addrs: () => [A], nodes: () => 7 })
    expect(held.state().nodes).toBe(7)
    held.heard('c', active(5, [B], 0))
    expect(held.state()).toMatchObject({ active: false, nodes: 0 })
  })
})

describe('the proof of the admin key between heads', () => {
  it('holds for its sender and receiver only', () => {
    const proof = headProof('k', 'a', 'b')
    expect(checkHeadProof('k', 'a', 'b', proof)).toBe(true)
    expect(checkHeadProof('k', 'b', 'a', proof)).toBe(false)
    expect(checkHeadProof('other', 'a', 'b', proof)).toBe(false)
    expect(checkHeadProof('k', 'a', 'b', proof.subarray(1))).toBe(false)
  })
})

describe('head lists', () => {
  it('takes one address, a list, or one string with commas', () => {
    expect(parseHeadList(A)).toEqual([A])
    expect(parseHeadList([A, B])).toEqual([A, B])
    expect(parseHeadList(`${A}, ${B}`)).toEqual([A, B])
  })

  it('refuses what is not a head address, naming it', () => {
    expect(() => parseHeadList(42, 'options.head')).toThrow(/options.head must be the head's multiaddr/)
    expect(() => parseHeadList([A, ''])).toThrow(/lists ""/)
    expect(() => parseHeadList('/ip4/1.2.3.4/tcp/1')).toThrow(/no \/p2p\//)
  })

  it('dials the next head when one fails, and follows a redirect to a head of the list', async () => {
    const cursor = new HeadCursor([A, B])
    const tried: string[] = []
    const got = await cursor.dial(async (head) => {
      tried.push(head)
      if (head === A) throw new Error('refused')
      return head
    })
    expect(got).toBe(B)
    expect(tried).toEqual([A, B])
    cursor.redirect(A)
    expect(cursor.current).toBe(A)
    cursor.redirect('/ip4/10.9.9.9/tcp/1/p2p/12D3KooWCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC')
    expect(cursor.current).toBe(B)
  })

  it('says to list the primary first when every head refuses the handshake', async () => {
    const refused = Object.assign(new Error('the head refused the handshake: the pool password is the likely cause.'), {
      name: 'HandshakeRefusedError',
    })
    await expect(
      new HeadCursor([B, A]).dial(async () => {
        throw refused
      }),
    ).rejects.toThrow(/list the primary first/)
  })
})

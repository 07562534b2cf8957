import { encodeFrame, type NodeMessage } from '@meshpool/core'
import { describe, expect, it } from 'vitest'
import { HeadReports } from '../src/node/head-reports.js'

describe("a node's results for the head", () => {
  it('go in frames the head takes, however many big ones finish in one turn', () => {
    const sent: NodeMessage[] = []
    const reports = new HeadReports({ send: (message) => sent.push(message), welcomed: () => true })
    const value = new Uint8Array(1024 * 1024 - 1)
    for (let jobId = 1; jobId <= 300; jobId++) reports.result({ jobId, leaseId: jobId, ok: true, value })
    reports.flushResults()
    const frames = sent.filter((m): m is Extract<NodeMessage, { type: 'results' }> => m.type === 'results')
    expect(frames.length).toBeGreaterThan(1)
    expect(frames.flatMap((f) => f.results.map((r) => r.jobId))).toEqual(Array.from({ length: 300 }, (_, i) => i + 1))
    for (const frame of frames) expect(() => encodeFrame(frame)).not.toThrow()
  })
})

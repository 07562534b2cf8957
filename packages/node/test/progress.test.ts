import { describe, expect, it } from 'vitest'
import { type Progress, ProgressTracker } from '../src/client/progress.js'

describe('ProgressTracker', () => {
  it('reports each running job by input index, and JSON.stringify keeps them', () => {
    const seen: Progress[] = []
    const tracker = new ProgressTracker((progress) => seen.push(progress), 3)
    tracker.submitted(10, 0)
    tracker.submitted(11, 1)
    tracker.progress(10, 0.25)
    tracker.progress(11, 0)
    tracker.finished(11, true)
    tracker.end()
    const last = seen.at(-1) as Progress
    expect(last).toMatchObject({ total: 3, done: 1, failed: 0, running: 1, queued: 0 })
    expect(last.jobs.get(0)).toBe(0.25)
    // A Map would be written as {}: the fractions must survive JSON.
    expect(JSON.parse(JSON.stringify(last))).toEqual({
      total: 3,
      done: 1,
      failed: 0,
      running: 1,
      queued: 0,
      jobs: { '0': 0.25 },
    })
  })
})

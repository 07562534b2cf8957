import { join } from 'node:path'
import { type RunningHead, startHead } from '@meshpool/node'
import { afterEach, describe, expect, it } from 'vitest'
import { PASSWORD, stopAll, tempDir } from './harness.js'
import { get } from './http-get.js'

const heads: RunningHead[] = []
afterEach(async () => {
  for (const head of heads.splice(0)) await head.stop()
  await stopAll()
})

async function head(options: { host?: string; webToken?: string; dashboardHost?: string } = {}): Promise<RunningHead> {
  const started = await startHead({
    password: PASSWORD,
    port: 0,
    slots: 0,
    keyFile: join(tempDir(), 'head.key'),
    metricsPort: 0,
    dashboardPort: 0,
    ...options,
  })
  heads.push(started)
  return started
}

describe("the head's metrics and dashboard", () => {
  it('listen on 127.0.0.1 by default, even when the head listens on every interface', async () => {
    const h = await head({ host: '0.0.0.0' })
    expect(h.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    expect(h.dashboardUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
    expect((await get(h.metricsUrl as string)).status).toBe(200)
    // Another address of this machine does not reach them.
    await expect(get(h.metricsUrl as string, { via: '127.0.0.2' })).rejects.toMatchObject({ code: 'ECONNREFUSED' })
    await expect(get(h.dashboardUrl as string, { via: '127.0.0.2' })).rejects.toMatchObject({ code: 'ECONNREFUSED' })
  })

  it('refuse a request addressed to another name (DNS rebinding) and answer one by IP or localhost', async () => {
    const h = await head()
    const url = h.dashboardUrl as string
    const refused = await get(url, { host: 'attacker.example:80' })
    expect(refused.status).toBe(421)
    expect((await get(`${h.metricsUrl}`, { host: 'rebind.attacker.example' })).status).toBe(421)
    expect((await get(url, { host: `localhost:${new URL(url).port}` })).status).toBe(200)
    expect((await get(url)).status).toBe(200)
  })

  it('with a web token, answer only requests that carry it, by query or bearer header', async () => {
    const h = await head({ webToken: 'dashboard-token-123' })
    expect((await get(h.metricsUrl as string)).status).toBe(401)
    expect((await get(`${h.metricsUrl}?token=wrong`)).status).toBe(401)
    const scraped = await get(h.metricsUrl as string, { headers: { authorization: 'Bearer dashboard-token-123' } })
    expect(scraped.status).toBe(200)
    expect(scraped.body).toMatch(/meshpool_nodes/)
    expect((await get(`${h.dashboardUrl}?token=dashboard-token-123`)).status).toBe(200)
    const events = await get(`${h.dashboardUrl}api/events?token=dashboard-token-123`)
    expect(events.body).toMatch(/^data: \{/)
  })

  it('hold at most 32 live dashboard pages; the next is told to close one', async () => {
    const h = await head()
    const events = `${h.dashboardUrl}api/events`
    const open = await Promise.all(Array.from({ length: 32 }, () => get(events)))
    expect(open.every((answer) => answer.status === 200)).toBe(true)
    const over = await get(events)
    expect(over.status).toBe(503)
    expect(over.body).toMatch(/32 pages open already/)
  })
})

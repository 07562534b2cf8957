import { existsSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createPool } from 'meshpool'
import { chromium } from 'playwright-core'
import { afterEach, describe, expect, it } from 'vitest'
import { joinNode, PASSWORD, startHead, stopAll, WORKER } from './harness.js'

afterEach(stopAll)

/** Debian's chromium (`.ci/run` installs it; `apt-get install chromium` by hand). */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const SHOTS = fileURLToPath(new URL('../test-output/', import.meta.url))

describe('the dashboard', () => {
  it('shows the nodes and live counters in headless Chromium, changing while a map runs, without a reload', async () => {
    expect(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium`).toBe(true)
    const head = await startHead({ noWork: true, args: ['--dashboard-port', '0'] })
    const url = /dashboard at (http:\S+)/.exec(head.output())?.[1] as string
    const nodes = [await joinNode(head.address, 2), await joinNode(head.address, 1)]
    await using pool = await createPool({ worker: WORKER, head: head.address, password: PASSWORD, output: 'ignore' })
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
      await page.goto(url)
      await page.waitForSelector('#node-rows tr')
      expect(await page.locator('#node-rows tr').count()).toBe(2)
      for (const node of nodes) await expect.poll(() => page.locator(`tr[data-node="${node.peerId}"]`).count()).toBe(1)
      const done = async () => Number(await page.locator('#done').textContent())
      const before = await done()
      const running = pool.map(Array.from({ length: 300 }, (_, x) => ({ x, delayMs: 10 })))
      // The page is never reloaded: the counters and the rows change as events arrive.
      await expect.poll(() => page.locator('.slot.busy').count(), { timeout: 15_000 }).toBeGreaterThan(0)
      await running
      await expect.poll(done, { timeout: 15_000 }).toBe(before + 300)
      const rowTotals = await page.locator('#node-rows td.done').allTextContents()
      expect(rowTotals.map(Number).reduce((a, b) => a + b, 0)).toBe(300)
      await expect.poll(() => page.locator('#chart polyline').count(), { timeout: 15_000 }).toBe(3)
      mkdirSync(SHOTS, { recursive: true })
      await page.screenshot({ path: `${SHOTS}dashboard.png`, fullPage: true })
      console.log(`dashboard screenshot: ${SHOTS}dashboard.png`)
    } finally {
      await browser.close()
    }
  })
})
